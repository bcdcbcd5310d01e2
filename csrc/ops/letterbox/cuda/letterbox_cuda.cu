// CUDA letterbox: one fused kernel for a whole batch of differently sized images. Each thread produces one
// output pixel (three planes): padding, or a bilinear sample with the same taps as the CPU version.
#include <cuda_fp16.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../common/cuda_check.cuh"
#include "yolov6_edge/letterbox.h"

namespace yolov6_edge {
namespace {

struct ImageDesc {
  const std::uint8_t* src;
  std::int64_t row_stride;
  int src_h, src_w;
  int new_h, new_w;
  int pad_left, pad_top;
  float inv_x, inv_y;  // source pixels per resized pixel
};

// cv2 INTER_LINEAR convention: half-pixel centres, edge pixels clamped.
__device__ __forceinline__ void tap(int d, float inv, int src, int& i0, int& i1, float& w1) {
  float s = __fmaf_rn(d + 0.5f, inv, -0.5f);  // matches std::fma in the CPU version
  i0 = static_cast<int>(floorf(s));
  w1 = s - i0;
  if (i0 < 0) i0 = 0, w1 = 0.f;
  if (i0 >= src - 1) i0 = src - 1, w1 = 0.f;
  i1 = min(i0 + 1, src - 1);
}

template <typename T>
__device__ __forceinline__ T convert(float v);
template <>
__device__ __forceinline__ float convert<float>(float v) { return v; }
template <>
__device__ __forceinline__ __half convert<__half>(float v) { return __float2half_rn(v); }

template <typename T>
__global__ void letterbox_kernel(const ImageDesc* __restrict__ descs, int dst_h, int dst_w, T* __restrict__ out) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= dst_w || y >= dst_h) return;
  const ImageDesc d = descs[blockIdx.z];
  const std::int64_t plane = static_cast<std::int64_t>(dst_h) * dst_w;
  T* o = out + blockIdx.z * 3 * plane + static_cast<std::int64_t>(y) * dst_w + x;
  const int rx = x - d.pad_left, ry = y - d.pad_top;
  if (rx < 0 || ry < 0 || rx >= d.new_w || ry >= d.new_h) {
    const T pad = convert<T>(kLetterboxPad / 255.f);
    o[0] = pad, o[plane] = pad, o[2 * plane] = pad;
    return;
  }
  int x0, x1, y0, y1;
  float wx, wy;
  tap(rx, d.inv_x, d.src_w, x0, x1, wx);
  tap(ry, d.inv_y, d.src_h, y0, y1, wy);
  const std::uint8_t* r0 = d.src + y0 * d.row_stride;
  const std::uint8_t* r1 = d.src + y1 * d.row_stride;
  float v[3];
#pragma unroll
  for (int k = 0; k < 3; ++k) {
    // Vertical then horizontal, as the CPU version does.
    float left = r0[x0 * 3 + k] * (1.f - wy) + r1[x0 * 3 + k] * wy;
    float right = r0[x1 * 3 + k] * (1.f - wy) + r1[x1 * 3 + k] * wy;
    v[k] = (left * (1.f - wx) + right * wx) * (1.f / 255.f);
  }
  o[0] = convert<T>(v[2]), o[plane] = convert<T>(v[1]), o[2 * plane] = convert<T>(v[0]);  // BGR -> RGB
}

}  // namespace

void letterbox_cuda(const ImageView* images, int batch, int dst_h, int dst_w, bool center, OutputType type,
                    void* out, LetterboxParams* params, void* stream_ptr) {
  if (batch < 0) throw std::invalid_argument("letterbox_cuda: negative batch size");
  if (batch == 0) return;
  if (batch > 65535) throw std::invalid_argument("letterbox_cuda: batch larger than 65535");
  std::vector<ImageDesc> host(batch);
  for (int n = 0; n < batch; ++n) {
    const ImageView& im = images[n];
    if (im.data == nullptr) throw std::invalid_argument("letterbox_cuda: image " + std::to_string(n) + " has no data");
    if (im.row_stride < static_cast<std::int64_t>(im.width) * 3)
      throw std::invalid_argument("letterbox_cuda: image " + std::to_string(n) + " row stride is smaller than width*3");
    LetterboxGeometry g = letterbox_geometry(im.height, im.width, dst_h, dst_w, center);
    if (params) params[n] = g.params;
    host[n] = {im.data, im.row_stride, im.height, im.width, g.new_height, g.new_width,
               static_cast<int>(g.params.pad_left), static_cast<int>(g.params.pad_top),
               static_cast<float>(static_cast<double>(im.width) / g.new_width),
               static_cast<float>(static_cast<double>(im.height) / g.new_height)};
  }
  cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);
  ImageDesc* descs = nullptr;
  const size_t bytes = host.size() * sizeof(ImageDesc);
  Y6_CUDA_CHECK(cudaMallocAsync(reinterpret_cast<void**>(&descs), bytes, stream));
  // The copy is stream-ordered, so `host` may be freed once it has been staged; synchronous with respect to
  // the host buffer because it is pageable memory.
  Y6_CUDA_CHECK(cudaMemcpyAsync(descs, host.data(), bytes, cudaMemcpyHostToDevice, stream));
  const dim3 block(32, 8);
  const dim3 grid((dst_w + block.x - 1) / block.x, (dst_h + block.y - 1) / block.y, batch);
  if (type == OutputType::kFloat32)
    letterbox_kernel<float><<<grid, block, 0, stream>>>(descs, dst_h, dst_w, static_cast<float*>(out));
  else
    letterbox_kernel<__half><<<grid, block, 0, stream>>>(descs, dst_h, dst_w, static_cast<__half*>(out));
  Y6_CUDA_CHECK(cudaGetLastError());
  Y6_CUDA_CHECK(cudaFreeAsync(descs, stream));
}

}  // namespace yolov6_edge
