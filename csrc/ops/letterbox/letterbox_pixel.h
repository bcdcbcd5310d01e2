// The per-pixel arithmetic of the letterbox, shared by the CPU loop (cpu/letterbox_cpu.cpp) and the CUDA
// kernel (cuda/letterbox_cuda.cu): source taps, the bilinear blend, the scaling to [0, 1] and the padding.
#pragma once

#include <math.h>

#include "../common/host_device.h"
#include "yolov6_edge/letterbox.h"

namespace yolov6_edge {
namespace detail {

// Source taps for one output coordinate, following cv2.resize INTER_LINEAR: half-pixel centres, and a
// coordinate that falls before the first or after the last source pixel takes that edge pixel.
struct Tap {
  int i0, i1;
  float w1;  // weight of i1; i0 gets 1 - w1
};

// d: output coordinate inside the resized image; inv: source pixels per resized pixel; src: source extent.
Y6_HOST_DEVICE inline Tap bilinear_tap(int d, float inv, int src) {
  const float s = fmaf(d + 0.5f, inv, -0.5f);  // one rounding, the same on host (libm) and device
  int i0 = static_cast<int>(floorf(s));
  float w1 = s - static_cast<float>(i0);
  if (i0 < 0) i0 = 0, w1 = 0.f;
  if (i0 >= src - 1) i0 = src - 1, w1 = 0.f;
  return {i0, i0 + 1 < src ? i0 + 1 : src - 1, w1};
}

// a * wa + b * wb, rounded identically on host and device (vertical blend first, then horizontal).
Y6_HOST_DEVICE inline float blend(float a, float b, float wa, float wb) { return add(mul(a, wa), mul(b, wb)); }

// A blended 0..255 value as the network input (0..1).
Y6_HOST_DEVICE inline float to_unit(float v) { return mul(v, 1.f / 255.f); }

// The pad value, already scaled.
Y6_HOST_DEVICE inline float pad_unit() { return static_cast<float>(kLetterboxPad) / 255.f; }

// One output channel from a 2x2 neighbourhood (top-left, top-right, bottom-left, bottom-right source values).
Y6_HOST_DEVICE inline float bilinear_sample(float tl, float tr, float bl, float br, float wx, float wy) {
  const float wy0 = 1.f - wy, wx0 = 1.f - wx;
  return to_unit(blend(blend(tl, bl, wy0, wy), blend(tr, br, wy0, wy), wx0, wx));
}

// Whether output (x, y) falls on the resized image (else it is padding).
Y6_HOST_DEVICE inline bool on_image(int x, int y, int pad_left, int pad_top, int new_w, int new_h) {
  const int rx = x - pad_left, ry = y - pad_top;
  return rx >= 0 && ry >= 0 && rx < new_w && ry < new_h;
}

}  // namespace detail
}  // namespace yolov6_edge
