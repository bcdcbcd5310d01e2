// CUDA ops against the CPU ops on the same inputs. Built only with CUDA; exits 77 (ctest: skipped) when no
// device is usable, as on build machines without a GPU.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "check.h"
#include "yolov6_edge/decode.h"
#include "yolov6_edge/device.h"
#include "yolov6_edge/letterbox.h"
#include "yolov6_edge/nms.h"

using namespace yolov6_edge;

namespace {

template <typename T>
T* to_device(const std::vector<T>& v) {
  void* p = nullptr;
  cudaMalloc(&p, std::max<size_t>(v.size() * sizeof(T), 1));
  cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice);
  return static_cast<T*>(p);
}

template <typename T>
std::vector<T> to_host(const T* p, size_t n) {
  std::vector<T> v(n);
  cudaMemcpy(v.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost);
  return v;
}

}  // namespace

int main() {
  if (!cuda_available()) {
    std::fprintf(stderr, "no usable CUDA device: skipped\n");
    return 77;
  }
  std::mt19937 rng(7);
  // Letterbox: a mixed batch in one launch vs the CPU version.
  const int sizes[3][2] = {{1080, 1920}, {37, 91}, {500, 3}};
  std::vector<std::vector<std::uint8_t>> host(3);
  std::vector<ImageView> cpu_views(3), gpu_views(3);
  std::vector<std::uint8_t*> dev_images(3);
  for (int i = 0; i < 3; ++i) {
    host[i].resize(static_cast<size_t>(sizes[i][0]) * sizes[i][1] * 3);
    for (auto& p : host[i]) p = static_cast<std::uint8_t>(rng() & 0xff);
    dev_images[i] = to_device(host[i]);
    cpu_views[i] = {host[i].data(), sizes[i][0], sizes[i][1], sizes[i][1] * 3LL};
    gpu_views[i] = {dev_images[i], sizes[i][0], sizes[i][1], sizes[i][1] * 3LL};
  }
  const size_t n_out = 3 * 3 * 384 * 640;
  std::vector<float> cpu(n_out);
  LetterboxParams cp[3], gp[3];
  letterbox_cpu(cpu_views.data(), 3, 384, 640, true, OutputType::kFloat32, cpu.data(), cp);
  float* dout = nullptr;
  cudaMalloc(reinterpret_cast<void**>(&dout), n_out * sizeof(float));
  letterbox_cuda(gpu_views.data(), 3, 384, 640, true, OutputType::kFloat32, dout, gp);
  std::vector<float> gpu = to_host(dout, n_out);
  double max_diff = 0;
  for (size_t i = 0; i < n_out; ++i) max_diff = std::max(max_diff, static_cast<double>(std::fabs(cpu[i] - gpu[i])));
  CHECK(max_diff <= 1e-5);
  for (int i = 0; i < 3; ++i) CHECK(cp[i].scale == gp[i].scale && cp[i].pad_top == gp[i].pad_top);

  // NMS: 2 images x 2000 boxes x 10 classes, both modes, vs the CPU version (counts within float rounding).
  const int b = 2, n = 2000, c = 10;
  std::uniform_real_distribution<float> pos(0, 600), size(2, 100), sc(0, 1);
  std::vector<float> boxes(b * n * 4), scores(b * n * c);
  for (int i = 0; i < b * n; ++i) {
    float x = pos(rng), y = pos(rng);
    boxes[i * 4] = x, boxes[i * 4 + 1] = y, boxes[i * 4 + 2] = x + size(rng), boxes[i * 4 + 3] = y + size(rng);
  }
  for (float& s : scores) s = sc(rng);
  float* dboxes = to_device(boxes);
  float* dscores = to_device(scores);
  for (int ml = 0; ml < 2; ++ml) {
    NmsOptions o;
    o.conf_thres = 0.3f, o.multi_label = ml;
    auto want = batched_nms_cpu(boxes.data(), scores.data(), b, n, c, o);
    float* dets = nullptr;
    std::int32_t* counts = nullptr;
    cudaMalloc(reinterpret_cast<void**>(&dets), sizeof(float) * b * o.max_det * 6);
    cudaMalloc(reinterpret_cast<void**>(&counts), sizeof(std::int32_t) * b);
    batched_nms_cuda(dboxes, dscores, b, n, c, o, dets, counts);
    auto got = to_host(dets, static_cast<size_t>(b) * o.max_det * 6);
    auto cnt = to_host(counts, b);
    for (int k = 0; k < b; ++k) {
      CHECK(std::abs(cnt[k] - static_cast<int>(want[k].size())) <= 1);
      int same = 0, m = std::min<int>(cnt[k], static_cast<int>(want[k].size()));
      for (int r = 0; r < m; ++r) {
        const float* g = &got[(static_cast<size_t>(k) * o.max_det + r) * 6];
        same += g[0] == want[k][r].x1 && g[4] == want[k][r].score && g[5] == want[k][r].class_id;
      }
      CHECK(same >= m - 2);
    }
    cudaFree(dets), cudaFree(counts);
  }

  // Decode: DFL with reg_max 16.
  const int na = 300, bins = 17;
  std::vector<float> reg(na * 4 * bins), anchors(na * 2), strides(na);
  std::normal_distribution<float> nd(0, 2);
  for (float& v : reg) v = nd(rng);
  for (int i = 0; i < na; ++i) anchors[2 * i] = pos(rng), anchors[2 * i + 1] = pos(rng), strides[i] = 8.f * (1 << (i % 3));
  std::vector<float> dec_cpu(na * 4);
  decode_boxes_cpu(reg.data(), anchors.data(), strides.data(), 1, na, 16, dec_cpu.data());
  float *dreg = to_device(reg), *danc = to_device(anchors), *dstr = to_device(strides), *ddec = nullptr;
  cudaMalloc(reinterpret_cast<void**>(&ddec), sizeof(float) * na * 4);
  decode_boxes_cuda(dreg, danc, dstr, 1, na, 16, ddec);
  auto dec_gpu = to_host(ddec, na * 4);
  for (int i = 0; i < na * 4; ++i) CHECK_NEAR(dec_gpu[i], dec_cpu[i], 1e-3);

  CHECK(cudaDeviceSynchronize() == cudaSuccess);
  return TEST_MAIN_RESULT();
}
