// Batched non-maximum suppression over [B, N, 4] xyxy boxes and [B, N, C] class scores.
//
// Rules (identical in the CPU and CUDA versions):
//   - candidates are (box, class) pairs with score > conf_thres: every such pair when multi_label, else the
//     best class of each box (the first one on ties). NaN scores never pass the threshold (dropped);
//     a candidate whose box has a NaN or infinite coordinate is dropped.
//   - when more than max_candidates pass, only the top max_candidates by score are kept.
//   - order: score descending, ties by lower (box index * C + class) first, so results are deterministic.
//   - greedy suppression: a candidate is dropped when its IoU with an already kept candidate of the same
//     class (any class when agnostic) is > iou_thres. Widths and heights are clamped at 0, so zero-area and
//     inverted boxes have IoU 0 with everything and are never suppressed nor suppress.
//   - at most max_det detections per image, rows (x1, y1, x2, y2, score, class_id), score descending.
// The CPU version computes IoU in double precision; the CUDA version in float, so a pair whose IoU lies
// within float rounding of iou_thres may be decided differently.
#pragma once

#include <cstdint>
#include <vector>

#include "yolov6_edge/export.h"

namespace yolov6_edge {

struct NmsOptions {
  float conf_thres = 0.25f;
  float iou_thres = 0.45f;
  int max_det = 300;
  bool multi_label = false;
  bool agnostic = false;
  int max_candidates = 30000;
};

struct Detection {
  float x1, y1, x2, y2, score, class_id;
};

// Throws std::invalid_argument for negative sizes, max_det < 0 or max_candidates < 1.
YOLOV6_EDGE_API void check_nms_args(std::int64_t batch, std::int64_t num_boxes, std::int64_t num_classes,
                                    const NmsOptions& options);

// CPU: one vector of detections per image. Images run in parallel when num_threads allows.
YOLOV6_EDGE_API std::vector<std::vector<Detection>> batched_nms_cpu(const float* boxes, const float* scores,
                                                                    int batch, int num_boxes, int num_classes,
                                                                    const NmsOptions& options,
                                                                    int num_threads = 0);

// CUDA: boxes and scores are device pointers; results go to the device buffers `out`
// [batch, max_det, 6] (x1, y1, x2, y2, score, class_id) and `counts` [batch] (int32); rows at and after
// counts[b] are left untouched. Everything runs on the device, on `stream`, with workspace allocated
// stream-ordered inside; the call synchronizes `stream` once, to read the B per-image candidate counts that
// size the later launches, and returns with the rest still queued. boxes must be 16-byte aligned;
// max_candidates <= 65536. Throws std::invalid_argument on bad arguments, std::runtime_error when built
// without CUDA or on a CUDA error.
YOLOV6_EDGE_API void batched_nms_cuda(const float* boxes, const float* scores, int batch, int num_boxes,
                                      int num_classes, const NmsOptions& options, float* out,
                                      std::int32_t* counts, void* stream = nullptr);

}  // namespace yolov6_edge
