"""What this machine's CPU is: its name and the SIMD flags that decide which INT8 kernels a runtime can use."""
import os
import platform

# the flags that matter to INT8 and bf16 kernels (x86): VNNI adds u8 x s8 dot products that do not saturate
_RELEVANT = ("avx", "amx")
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def cpu_flags() -> list:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return sorted({x for x in line.split(":", 1)[1].split()
                                   if x.startswith(_RELEVANT) or "vnni" in x or "bf16" in x})
    except OSError:
        pass
    return []


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


# oneDNN (inside OpenVINO) can be capped below the CPU's ISA with ONEDNN_MAX_CPU_ISA (DNNL_MAX_CPU_ISA): these
# caps leave it without VNNI, so its INT8 kernels sum u8 x s8 pairs in int16 as on an AVX2 CPU (measured with
# OpenVINO 2026.4: tests/test_quant_weight_levels.py)
NO_VNNI_CAPS = ("SSE41", "AVX", "AVX2", "AVX512_CORE")


def onednn_isa_cap():
    """The ISA cap oneDNN reads from the environment, or None."""
    value = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA")
    return value.upper() if value else None


def has_vnni(flags=None) -> bool:
    """Whether INT8 dot products accumulate in 32 bits here: the CPU has VNNI and oneDNN is not capped below it
    (flags given: only the flags decide)."""
    if flags is None and onednn_isa_cap() in NO_VNNI_CAPS:
        return False
    return any(f in (cpu_flags() if flags is None else flags) for f in VNNI_FLAGS)
