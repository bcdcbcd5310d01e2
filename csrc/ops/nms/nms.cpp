// Argument checks shared by the CPU and CUDA NMS, and the CUDA entry point's stand-in for builds
// without CUDA.
#include <stdexcept>
#include <string>

#include "yolov6_edge/nms.h"

namespace yolov6_edge {

void check_nms_args(std::int64_t batch, std::int64_t num_boxes, std::int64_t num_classes,
                    const NmsOptions& o) {
  if (batch < 0 || num_boxes < 0 || num_classes < 0)
    throw std::invalid_argument("batched_nms: negative size");
  if (num_boxes * num_classes > 0x7fffffffLL)
    throw std::invalid_argument("batched_nms: N * C = " + std::to_string(num_boxes * num_classes) +
                                " exceeds 2^31 - 1 candidates per image");
  if (o.max_det < 0) throw std::invalid_argument("batched_nms: max_det must be >= 0, got " + std::to_string(o.max_det));
  if (o.max_candidates < 1)
    throw std::invalid_argument("batched_nms: max_candidates must be >= 1, got " + std::to_string(o.max_candidates));
  if (!(o.iou_thres == o.iou_thres) || !(o.conf_thres == o.conf_thres))
    throw std::invalid_argument("batched_nms: conf_thres and iou_thres must not be NaN");
}

#ifndef YOLOV6_EDGE_WITH_CUDA
void batched_nms_cuda(const float*, const float*, int, int, int, const NmsOptions&, float*, std::int32_t*, void*) {
  throw std::runtime_error("batched_nms_cuda: yolov6_edge was built without CUDA");
}
#endif

}  // namespace yolov6_edge
