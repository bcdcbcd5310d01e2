// Box decoding for graphs exported without it: anchor points + strides + ltrb distances -> xyxy.
//
// reg is [B, N, 4] ltrb distances in stride units when reg_max == 0, or [B, N, 4 * (reg_max + 1)] DFL logits
// (per side: softmax over reg_max + 1 bins, distance = expected bin index) when reg_max > 0.
// anchors [N, 2] (x, y) and strides [N] are in input pixels; out is [B, N, 4]:
//   x1 = ax - l * s, y1 = ay - t * s, x2 = ax + r * s, y2 = ay + b * s.
#pragma once

#include "yolov6_edge/export.h"

namespace yolov6_edge {

YOLOV6_EDGE_API void decode_boxes_cpu(const float* reg, const float* anchors, const float* strides, int batch,
                                      int num_anchors, int reg_max, float* out);

// Device pointers; asynchronous on `stream`. Throws std::runtime_error when built without CUDA.
YOLOV6_EDGE_API void decode_boxes_cuda(const float* reg, const float* anchors, const float* strides,
                                       int batch, int num_anchors, int reg_max, float* out,
                                       void* stream = nullptr);

}  // namespace yolov6_edge
