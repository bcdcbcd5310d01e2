// CUDA error checking for the kernels: a failed call becomes std::runtime_error naming the call.
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace yolov6_edge::detail {

inline void cuda_check(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("yolov6_edge CUDA: ") + what + ": " + cudaGetErrorString(err));
}

}  // namespace yolov6_edge::detail

#define Y6_CUDA_CHECK(call) ::yolov6_edge::detail::cuda_check((call), #call)
