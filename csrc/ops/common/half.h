// float -> IEEE 754 binary16 bits with round-to-nearest-even, for the CPU ops' float16 output
// (portable: no reliance on compiler _Float16 support).
#pragma once

#include <cstdint>
#include <cstring>

namespace yolov6_edge::detail {

inline std::uint16_t float_to_half_bits(float f) {
  std::uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  std::uint32_t sign = (x >> 16) & 0x8000u;
  std::uint32_t mag = x & 0x7fffffffu;
  if (mag >= 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7c00u | (mag > 0x7f800000u ? 0x200u : 0u));
  if (mag >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // rounds to inf
  if (mag < 0x38800000u) {                                                    // subnormal half or zero
    if (mag < 0x33000000u) return static_cast<std::uint16_t>(sign);
    std::uint32_t exp = mag >> 23;
    std::uint32_t mant = (mag & 0x7fffffu) | 0x800000u;
    std::uint32_t shift = 126u - exp;  // 14 - (exp - 127) + 13 - 1 ... places the value in 10 bits
    std::uint32_t half = mant >> (shift);
    std::uint32_t rem = mant & ((1u << shift) - 1u);
    std::uint32_t mid = 1u << (shift - 1u);
    if (rem > mid || (rem == mid && (half & 1u))) ++half;
    return static_cast<std::uint16_t>(sign | half);
  }
  std::uint32_t h = ((mag - 0x38000000u) >> 13);
  std::uint32_t rem = mag & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<std::uint16_t>(sign | h);
}

}  // namespace yolov6_edge::detail
