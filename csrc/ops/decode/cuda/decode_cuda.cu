// CUDA box decoding: one thread per (image, anchor); same arithmetic as the CPU version.
#include <cstdint>
#include <stdexcept>

#include "../../common/cuda_check.cuh"
#include "yolov6_edge/decode.h"

namespace yolov6_edge {
namespace {

__global__ void decode_kernel(const float* __restrict__ reg, const float* __restrict__ anchors,
                              const float* __restrict__ strides, std::int64_t total, int num_anchors, int reg_max,
                              float* __restrict__ out) {
  const std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (i >= total) return;
  const int bins = reg_max + 1;
  const float* r = reg + i * (reg_max > 0 ? 4 * bins : 4);
  const std::int64_t a = i % num_anchors;
  float d[4];
  for (int side = 0; side < 4; ++side) {
    if (reg_max == 0) {
      d[side] = r[side];
      continue;
    }
    const float* l = r + side * bins;
    float m = l[0];
    for (int k = 1; k < bins; ++k) m = fmaxf(m, l[k]);
    float sum = 0.f, acc = 0.f;
    for (int k = 0; k < bins; ++k) {
      float e = expf(l[k] - m);
      sum += e, acc += e * k;
    }
    d[side] = acc / sum;
  }
  const float s = strides[a], ax = anchors[2 * a], ay = anchors[2 * a + 1];
  float4 o = make_float4(ax - d[0] * s, ay - d[1] * s, ax + d[2] * s, ay + d[3] * s);
  reinterpret_cast<float4*>(out)[i] = o;
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
