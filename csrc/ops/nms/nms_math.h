// The per-pair and per-candidate arithmetic of NMS, shared by the CPU op (cpu/nms_cpu.cpp, in double) and
// the CUDA kernels (cuda/nms_cuda.cu, in float): which scores become candidates, the IoU of two boxes, and
// whether a kept box suppresses another.
#pragma once

#include <math.h>

#include "../common/host_device.h"

namespace yolov6_edge {
namespace detail {

// A (box, class) slot is a candidate when its score is above the threshold (NaN never is) and its box is
// finite (a non-finite box would poison every IoU it takes part in).
Y6_HOST_DEVICE inline bool finite_box(const float* b) {
  return isfinite(b[0]) && isfinite(b[1]) && isfinite(b[2]) && isfinite(b[3]);
}
Y6_HOST_DEVICE inline bool above(float score, float conf) { return score > conf; }

// The single-label candidate of one box: its best-scoring class (NaN scores ignored, the lower class wins a
// tie). Returns -1 when every score is NaN.
Y6_HOST_DEVICE inline int best_class(const float* row, int num_classes, float* score) {
  int best = -1;
  float best_s = 0.f;
  for (int k = 0; k < num_classes; ++k)
    if (row[k] == row[k] && (best < 0 || row[k] > best_s)) best = k, best_s = row[k];
  *score = best_s;
  return best;
}

// IoU of two xyxy boxes; boxes with no positive area give 0. T is double on the CPU (evaluation-order
// independent, like the numpy reference) and float on the GPU.
template <typename T>
Y6_HOST_DEVICE inline T box_iou(T ax1, T ay1, T ax2, T ay2, T bx1, T by1, T bx2, T by2) {
  const T zero = T(0);
  const T iw = max_of(zero, min_of(ax2, bx2) - max_of(ax1, bx1));
  const T ih = max_of(zero, min_of(ay2, by2) - max_of(ay1, by1));
  const T inter = mul(iw, ih);
  const T area_a = mul(max_of(zero, ax2 - ax1), max_of(zero, ay2 - ay1));
  const T area_b = mul(max_of(zero, bx2 - bx1), max_of(zero, by2 - by1));
  const T uni = add(area_a, area_b) - inter;
  return uni > zero ? inter / uni : zero;
}

// A kept box suppresses a later one of its class (any class when agnostic) above the IoU threshold.
template <typename T>
Y6_HOST_DEVICE inline bool suppresses(T iou, float iou_thres) { return iou > static_cast<T>(iou_thres); }

}  // namespace detail
}  // namespace yolov6_edge
