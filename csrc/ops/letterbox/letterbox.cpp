// Letterbox geometry and argument checks shared by the CPU and CUDA implementations, and the CUDA
// entry point's stand-in for builds without CUDA.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "yolov6_edge/letterbox.h"

namespace yolov6_edge {

LetterboxGeometry letterbox_geometry(int src_h, int src_w, int dst_h, int dst_w, bool center) {
  if (src_h < 1 || src_w < 1)
    throw std::invalid_argument("letterbox: image size " + std::to_string(src_h) + "x" + std::to_string(src_w) +
                                " is empty");
  if (dst_h < 1 || dst_w < 1)
    throw std::invalid_argument("letterbox: output size " + std::to_string(dst_h) + "x" +
                                std::to_string(dst_w) + " is empty");
  // double so that exact fits (r == 1, r == 0.5) stay exact and match Python's reference arithmetic.
  double r = std::min(static_cast<double>(dst_h) / src_h, static_cast<double>(dst_w) / src_w);
  LetterboxGeometry g;
  g.new_width = std::clamp(static_cast<int>(std::lround(src_w * r)), 1, dst_w);
  g.new_height = std::clamp(static_cast<int>(std::lround(src_h * r)), 1, dst_h);
  g.params.scale = static_cast<float>(r);
  if (center) {
    g.params.pad_left = static_cast<float>((dst_w - g.new_width) / 2);
    g.params.pad_top = static_cast<float>((dst_h - g.new_height) / 2);
  }
  return g;
}

#ifndef YOLOV6_EDGE_WITH_CUDA
void letterbox_cuda(const ImageView*, int, int, int, bool, OutputType, void*, LetterboxParams*, void*) {
  throw std::runtime_error("letterbox_cuda: yolov6_edge was built without CUDA");
}
#endif

}  // namespace yolov6_edge
