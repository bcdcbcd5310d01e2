// CUDA batched NMS, everything on the device:
//   1. keys: one 64-bit key per (box, class) slot (per box when not multi_label): high 32 bits the score
//      flipped so an ascending sort gives score descending, low 32 bits box * C + class (the tie-break);
//      slots below the threshold, with NaN scores or non-finite boxes get the maximum key. Counts per image.
//   2. compaction of the valid keys (cub::DeviceSelect, order kept, so images stay contiguous) and one
//      segmented radix sort per image (cub::DeviceSegmentedRadixSort).
//   3. per image: IoU bitmask over the first min(count, max_candidates) candidates, 64 columns per word,
//      only pairs of the same class unless agnostic;
//   4. greedy reduce in one block, 64 candidates per step, writing kept rows straight into `out`.
// The per-image candidate counts (B ints) are copied to the host once to size steps 2-4; nothing else is.
#include <cub/device/device_segmented_radix_sort.cuh>
#include <cub/device/device_select.cuh>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../common/cuda_check.cuh"
#include "../nms_math.h"
#include "yolov6_edge/nms.h"

namespace yolov6_edge {
namespace {

using Key = unsigned long long;
constexpr Key kInvalid = ~0ull;
constexpr int kMaxCandidates = 65536;

__device__ __forceinline__ std::uint32_t descending_bits(float s) {
  std::uint32_t u = __float_as_uint(s);
  std::uint32_t ordered = (u & 0x80000000u) ? ~u : (u | 0x80000000u);  // ascending with the float value
  return ~ordered;
}


__global__ void make_keys(const float* __restrict__ boxes, const float* __restrict__ scores, int batch, int n, int c,
                          float conf, bool multi_label, Key* __restrict__ keys, int* __restrict__ counts) {
  const std::int64_t per_image = multi_label ? static_cast<std::int64_t>(n) * c : n;
  const std::int64_t slot = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (slot >= per_image * batch) return;
  const int b = static_cast<int>(slot / per_image);
  const std::int64_t i = slot % per_image;
  const float* sc = scores + static_cast<std::int64_t>(b) * n * c;
  int box, cls = -1;
  float s = 0.f;
  if (multi_label) {
    box = static_cast<int>(i / c), cls = static_cast<int>(i % c), s = sc[i];
  } else {
    box = static_cast<int>(i);
    cls = detail::best_class(sc + static_cast<std::int64_t>(box) * c, c, &s);
  }
  Key key = kInvalid;
  if (cls >= 0 && detail::above(s, conf) && detail::finite_box(boxes + (static_cast<std::int64_t>(b) * n + box) * 4)) {
    key = (static_cast<Key>(descending_bits(s)) << 32) | static_cast<std::uint32_t>(box * c + cls);
    atomicAdd(counts + b, 1);
  }
  keys[slot] = key;
}

struct IsValid {
  __host__ __device__ bool operator()(const Key& k) const { return k != kInvalid; }
};

// The CPU op's IoU (../nms_math.h), in float.
__device__ __forceinline__ float iou(float4 a, float4 b) {
  return detail::box_iou<float>(a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w);
}

// Bit j of mask[i * words + j / 64] is set when candidate j > i overlaps candidate i above the threshold.
__global__ void iou_mask(const float* __restrict__ boxes, const Key* __restrict__ keys, int k, int c, int words,
                         float iou_thres, bool agnostic, Key* __restrict__ mask) {
  const int row_block = blockIdx.y, col_block = blockIdx.x;
  if (col_block < row_block) return;
  __shared__ float4 col_box[64];
  __shared__ int col_cls[64];
  const int j = col_block * 64 + threadIdx.x;
  if (j < k) {
    const std::uint32_t idx = static_cast<std::uint32_t>(keys[j]);
    col_box[threadIdx.x] = reinterpret_cast<const float4*>(boxes)[idx / c];
    col_cls[threadIdx.x] = idx % c;
  }
  __syncthreads();
  const int i = row_block * 64 + threadIdx.x;
  if (i >= k) return;
  const std::uint32_t idx = static_cast<std::uint32_t>(keys[i]);
  const float4 box = reinterpret_cast<const float4*>(boxes)[idx / c];
  const int cls = idx % c;
  const int cols = min(64, k - col_block * 64);
  Key bits = 0;
  for (int t = (col_block == row_block ? threadIdx.x + 1 : 0); t < cols; ++t)
    if ((agnostic || col_cls[t] == cls) && detail::suppresses(iou(box, col_box[t]), iou_thres)) bits |= 1ull << t;
  mask[static_cast<std::int64_t>(i) * words + col_block] = bits;
}

// One block per image. removed[] lives in shared memory (words <= 469 for 30000 candidates).
__global__ void greedy_reduce(const float* __restrict__ boxes, const float* __restrict__ scores,
                              const Key* __restrict__ keys, const Key* __restrict__ mask, int k, int c, int words,
                              int max_det, float* __restrict__ out, int* __restrict__ count) {
  extern __shared__ Key removed[];
  __shared__ Key s_keep;
  __shared__ int s_kept;
  for (int w = threadIdx.x; w < words; w += blockDim.x) removed[w] = 0;
  if (threadIdx.x == 0) s_kept = 0;
  __syncthreads();
  for (int cb = 0; cb < words; ++cb) {
    if (threadIdx.x == 0) {
      Key rem = removed[cb], keep = 0;
      int kept = s_kept;
      for (int t = 0; t < 64 && kept < max_det; ++t) {
        const int i = cb * 64 + t;
        if (i >= k) break;
        if ((rem >> t) & 1ull) continue;
        keep |= 1ull << t;
        rem |= mask[static_cast<std::int64_t>(i) * words + cb];
        const std::uint32_t idx = static_cast<std::uint32_t>(keys[i]);
        const float* b = boxes + static_cast<std::int64_t>(idx / c) * 4;
        float* o = out + static_cast<std::int64_t>(kept) * 6;
        o[0] = b[0], o[1] = b[1], o[2] = b[2], o[3] = b[3];
        o[4] = scores[idx], o[5] = static_cast<float>(idx % c);
        ++kept;
      }
      s_keep = keep, s_kept = kept;
    }
    __syncthreads();
    const Key keep = s_keep;
    if (s_kept >= max_det) break;
    for (int w = cb + 1 + threadIdx.x; w < words; w += blockDim.x) {
      Key acc = removed[w];
      for (Key bits = keep; bits; bits &= bits - 1) {
        const int t = __ffsll(static_cast<long long>(bits)) - 1;
        acc |= mask[static_cast<std::int64_t>(cb * 64 + t) * words + w];
      }
      removed[w] = acc;
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) *count = s_kept;
}

// Stream-ordered scratch memory, freed on every exit path.
struct Scratch {
  cudaStream_t stream;
  std::vector<void*> ptrs;
  template <typename T>
  T* get(size_t count) {
    void* p = nullptr;
    Y6_CUDA_CHECK(cudaMallocAsync(&p, std::max<size_t>(count * sizeof(T), 1), stream));
    ptrs.push_back(p);
    return static_cast<T*>(p);
  }
  ~Scratch() {
    for (void* p : ptrs) cudaFreeAsync(p, stream);
  }
};

}  // namespace

void batched_nms_cuda(const float* boxes, const float* scores, int batch, int num_boxes, int num_classes,
                      const NmsOptions& o, float* out, std::int32_t* counts, void* stream_ptr) {
  check_nms_args(batch, num_boxes, num_classes, o);
  // The bitmask is K^2 / 8 bytes and the reduce keeps K / 64 words in shared memory: 65536 candidates
  // (512 MiB, 8 KiB) is the most this version accepts; the default is 30000.
  if (o.max_candidates > kMaxCandidates)
    throw std::invalid_argument("batched_nms_cuda: max_candidates must be <= 65536, got " +
                                std::to_string(o.max_candidates));
  if (reinterpret_cast<std::uintptr_t>(boxes) % 16 != 0)
    throw std::invalid_argument("batched_nms_cuda: boxes must be 16-byte aligned (read as float4)");
  cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);
  if (batch == 0) return;
  Y6_CUDA_CHECK(cudaMemsetAsync(counts, 0, sizeof(std::int32_t) * batch, stream));
  if (num_boxes == 0 || num_classes == 0 || o.max_det == 0) return;

  const std::int64_t per_image = o.multi_label ? static_cast<std::int64_t>(num_boxes) * num_classes : num_boxes;
  const std::int64_t slots = per_image * batch;
  if (slots > 0x7fffffffLL) throw std::invalid_argument("batched_nms_cuda: B * N * C exceeds 2^31 - 1");
  Scratch scratch{stream, {}};
  Key* keys = scratch.get<Key>(slots);
  int* valid = scratch.get<int>(batch);
  Y6_CUDA_CHECK(cudaMemsetAsync(valid, 0, sizeof(int) * batch, stream));
  const int threads = 256;
  make_keys<<<static_cast<unsigned>((slots + threads - 1) / threads), threads, 0, stream>>>(
      boxes, scores, batch, num_boxes, num_classes, o.conf_thres, o.multi_label, keys, valid);
  Y6_CUDA_CHECK(cudaGetLastError());

  // The only device-to-host copy besides the caller's: B counts, to size the launches below.
  std::vector<int> host_valid(batch);
  Y6_CUDA_CHECK(cudaMemcpyAsync(host_valid.data(), valid, sizeof(int) * batch, cudaMemcpyDeviceToHost, stream));
  Y6_CUDA_CHECK(cudaStreamSynchronize(stream));
  std::vector<int> offsets(batch + 1, 0);
  int max_k = 0;
  for (int b = 0; b < batch; ++b) {
    offsets[b + 1] = offsets[b] + host_valid[b];
    max_k = std::max(max_k, std::min(host_valid[b], o.max_candidates));
  }
  const int total = offsets[batch];

  Key* compact = scratch.get<Key>(total);
  Key* sorted = scratch.get<Key>(total);
  int* d_offsets = scratch.get<int>(batch + 1);
  int* num_selected = scratch.get<int>(1);
  Y6_CUDA_CHECK(cudaMemcpyAsync(d_offsets, offsets.data(), sizeof(int) * (batch + 1), cudaMemcpyHostToDevice, stream));
  size_t select_bytes = 0, sort_bytes = 0;
  Y6_CUDA_CHECK(cub::DeviceSelect::If(nullptr, select_bytes, keys, compact, num_selected, static_cast<int>(slots),
                                      IsValid{}, stream));
  Y6_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortKeys(nullptr, sort_bytes, compact, sorted, total, batch, d_offsets,
                                                        d_offsets + 1, 0, 64, stream));
  void* temp = scratch.get<char>(std::max(select_bytes, sort_bytes));
  Y6_CUDA_CHECK(cub::DeviceSelect::If(temp, select_bytes, keys, compact, num_selected, static_cast<int>(slots),
                                      IsValid{}, stream));
  if (total > 0)
    Y6_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortKeys(temp, sort_bytes, compact, sorted, total, batch, d_offsets,
                                                          d_offsets + 1, 0, 64, stream));

  const int max_words = (max_k + 63) / 64;
  Key* mask = scratch.get<Key>(static_cast<size_t>(max_k) * max_words);
  for (int b = 0; b < batch; ++b) {
    const int k = std::min(host_valid[b], o.max_candidates);
    const int words = (k + 63) / 64;
    const float* bb = boxes + static_cast<std::int64_t>(b) * num_boxes * 4;
    const float* sb = scores + static_cast<std::int64_t>(b) * num_boxes * num_classes;
    if (k > 0) {
      iou_mask<<<dim3(words, words), 64, 0, stream>>>(bb, sorted + offsets[b], k, num_classes, words, o.iou_thres,
                                                      o.agnostic, mask);
      Y6_CUDA_CHECK(cudaGetLastError());
    }
    greedy_reduce<<<1, 256, sizeof(Key) * std::max(words, 1), stream>>>(
        bb, sb, sorted + offsets[b], mask, k, num_classes, words, o.max_det,
        out + static_cast<std::int64_t>(b) * o.max_det * 6, counts + b);
    Y6_CUDA_CHECK(cudaGetLastError());
  }
}

}  // namespace yolov6_edge
