// Letterbox: resize keeping the aspect ratio, pad with 114, BGR->RGB, /255, HWC->CHW, in one pass.
//
// Geometry (shared by the CPU and CUDA versions, and by letterbox_geometry below):
//   r = min(dst_h / src_h, dst_w / src_w); resized size = round(src_w * r) x round(src_h * r), at least 1;
//   sampling follows cv2.resize INTER_LINEAR (half-pixel centres, edge pixels clamped).
//   center=true: pad_left = floor((dst_w - new_w) / 2), pad_top = floor((dst_h - new_h) / 2), so an odd
//   padding puts the extra pixel on the right / bottom (the YOLOv6 rule); center=false: pad_left = pad_top = 0.
//   A point in the letterboxed image maps back as x_orig = (x - pad_left) / scale, scale = r.
#pragma once

#include <cstdint>

#include "yolov6_edge/export.h"

namespace yolov6_edge {

// One input image: uint8 BGR, height x width x 3, rows `row_stride` bytes apart (>= width * 3).
struct ImageView {
  const std::uint8_t* data = nullptr;
  int height = 0;
  int width = 0;
  std::int64_t row_stride = 0;
};

// Per-image mapping back to the original image.
struct LetterboxParams {
  float scale = 1.f;
  float pad_left = 0.f;
  float pad_top = 0.f;
};

// The full placement of one image inside the output.
struct LetterboxGeometry {
  LetterboxParams params;
  int new_width = 0;
  int new_height = 0;
};

enum class OutputType { kFloat32 = 0, kFloat16 = 1 };

constexpr float kLetterboxPad = 114.f;

// Where an src_h x src_w image lands in a dst_h x dst_w letterbox. Throws std::invalid_argument on sizes < 1.
YOLOV6_EDGE_API LetterboxGeometry letterbox_geometry(int src_h, int src_w, int dst_h, int dst_w, bool center);

// CPU: `batch` images -> `out` [batch, 3, dst_h, dst_w] float32 or IEEE half (uint16 bits), RGB /255.
// `params` receives one entry per image. num_threads <= 0 uses the hardware concurrency.
YOLOV6_EDGE_API void letterbox_cpu(const ImageView* images, int batch, int dst_h, int dst_w, bool center,
                                   OutputType type, void* out, LetterboxParams* params, int num_threads = 0);

// CUDA: the same for images whose `data` are device pointers (or mapped pinned host memory); `images` and
// `params` are host arrays, `out` is a device buffer of batch * 3 * dst_h * dst_w elements (for example an
// engine's input binding). One kernel launch for the whole batch, asynchronous on `stream` (a cudaStream_t,
// nullptr = default stream). Throws std::runtime_error when built without CUDA or on a CUDA error.
YOLOV6_EDGE_API void letterbox_cuda(const ImageView* images, int batch, int dst_h, int dst_w, bool center,
                                    OutputType type, void* out, LetterboxParams* params, void* stream = nullptr);

}  // namespace yolov6_edge
