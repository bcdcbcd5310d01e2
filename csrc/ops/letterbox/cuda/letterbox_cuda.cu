// CUDA letterbox: one fused kernel for a whole batch of differently sized images. Each thread produces one
// output pixel (three planes): padding, or a bilinear sample computed by the functions the CPU version
// calls (../letterbox_pixel.h).
#include <cuda_fp16.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../common/cuda_check.cuh"
#include "../letterbox_pixel.h"
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
  if (!detail::on_image(x, y, d.pad_left, d.pad_top, d.new_w, d.new_h)) {
    const T pad = convert<T>(detail::pad_unit());
    o[0] = pad, o[plane] = pad, o[2 * plane] = pad;
    return;
  }
  // The taps and the blend are the CPU version's own functions (letterbox_pixel.h).
  const detail::Tap tx = detail::bilinear_tap(x - d.pad_left, d.inv_x, d.src_w);
  const detail::Tap ty = detail::bilinear_tap(y - d.pad_top, d.inv_y, d.src_h);
  const std::uint8_t* r0 = d.src + ty.i0 * d.row_stride;
  const std::uint8_t* r1 = d.src + ty.i1 * d.row_stride;
  float v[3];
#pragma unroll
  for (int k = 0; k < 3; ++k)
    v[k] = detail::bilinear_sample(r0[tx.i0 * 3 + k], r0[tx.i1 * 3 + k], r1[tx.i0 * 3 + k], r1[tx.i1 * 3 + k],
                                   tx.w1, ty.w1);
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
