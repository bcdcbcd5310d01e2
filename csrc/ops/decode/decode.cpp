// The CUDA decode entry point's stand-in for builds without CUDA.
#include <stdexcept>

#include "yolov6_edge/decode.h"

namespace yolov6_edge {

#ifndef YOLOV6_EDGE_WITH_CUDA
void decode_boxes_cuda(const float*, const float*, const float*, int, int, int, float*, void*) {
  throw std::runtime_error("decode_boxes_cuda: yolov6_edge was built without CUDA");
}
#endif

}  // namespace yolov6_edge
