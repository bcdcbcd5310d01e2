"""What this machine's CPU is: its name and the SIMD flags that decide which INT8 kernels a runtime can use."""
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


def has_vnni(flags=None) -> bool:
    return any(f in (cpu_flags() if flags is None else flags) for f in VNNI_FLAGS)
