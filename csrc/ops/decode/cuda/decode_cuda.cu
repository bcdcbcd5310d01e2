// CUDA box decoding: one thread per (image, anchor), the per-box arithmetic in ../decode_box.h (shared with
// the CPU version).
#include <cstdint>
#include <stdexcept>

#include "../../common/cuda_check.cuh"
#include "../decode_box.h"
#include "yolov6_edge/decode.h"

namespace yolov6_edge {
namespace {

__global__ void decode_kernel(const float* __restrict__ reg, const float* __restrict__ anchors,
                              const float* __restrict__ strides, std::int64_t total, int num_anchors, int reg_max,
                              float* __restrict__ out) {
  const std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (i >= total) return;
  const std::int64_t a = i % num_anchors;
  float o[4];
  detail::decode_box(reg + i * (reg_max > 0 ? 4 * (reg_max + 1) : 4), reg_max, strides[a], anchors[2 * a],
                     anchors[2 * a + 1], o);
  reinterpret_cast<float4*>(out)[i] = make_float4(o[0], o[1], o[2], o[3]);
}

}  // namespace

void decode_boxes_cuda(const float* reg, const float* anchors, const float* strides, int batch, int num_anchors,
                       int reg_max, float* out, void* stream) {
  if (batch < 0 || num_anchors < 0 || reg_max < 0) throw std::invalid_argument("decode_boxes_cuda: negative size");
  if (reinterpret_cast<std::uintptr_t>(out) % 16 != 0)
    throw std::invalid_argument("decode_boxes_cuda: out must be 16-byte aligned (written as float4)");
  const std::int64_t total = static_cast<std::int64_t>(batch) * num_anchors;
  if (total == 0) return;
  const int threads = 256;
  decode_kernel<<<static_cast<unsigned>((total + threads - 1) / threads), threads, 0,
                  static_cast<cudaStream_t>(stream)>>>(reg, anchors, strides, total, num_anchors, reg_max, out);
  Y6_CUDA_CHECK(cudaGetLastError());
}

}  // namespace yolov6_edge
