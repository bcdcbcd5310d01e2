// CPU box decoding: one loop over (image, anchor), the per-box arithmetic in ../decode_box.h.
#include <cstdint>
#include <stdexcept>

#include "../decode_box.h"
#include "yolov6_edge/decode.h"

namespace yolov6_edge {

void decode_boxes_cpu(const float* reg, const float* anchors, const float* strides, int batch, int num_anchors,
                      int reg_max, float* out) {
  if (batch < 0 || num_anchors < 0 || reg_max < 0) throw std::invalid_argument("decode_boxes: negative size");
  const int width = reg_max > 0 ? 4 * (reg_max + 1) : 4;
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(batch) * num_anchors; ++i) {
    const std::int64_t a = i % num_anchors;
    detail::decode_box(reg + i * width, reg_max, strides[a], anchors[2 * a], anchors[2 * a + 1], out + i * 4);
  }
}

}  // namespace yolov6_edge
