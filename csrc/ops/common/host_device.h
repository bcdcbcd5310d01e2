// Per-element math shared by the CPU loops and the CUDA kernels: functions marked Y6_HOST_DEVICE compile for
// both, so the CPU tests exercise the arithmetic the kernels run. mul/add never fuse into a multiply-add on
// either side (nvcc contracts a * b + c by default; the C++ side builds with -ffp-contract=off), so host and
// device round the same way.
#pragma once

#ifdef __CUDACC__
#define Y6_HOST_DEVICE __host__ __device__
#else
#define Y6_HOST_DEVICE
#endif

namespace yolov6_edge {
namespace detail {

Y6_HOST_DEVICE inline float mul(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
Y6_HOST_DEVICE inline double mul(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
Y6_HOST_DEVICE inline float add(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
Y6_HOST_DEVICE inline double add(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}
// std::max / std::min semantics: the first argument wins a tie or an unordered comparison.
template <typename T>
Y6_HOST_DEVICE inline T max_of(T a, T b) { return a < b ? b : a; }
template <typename T>
Y6_HOST_DEVICE inline T min_of(T a, T b) { return b < a ? b : a; }

}  // namespace detail
}  // namespace yolov6_edge
