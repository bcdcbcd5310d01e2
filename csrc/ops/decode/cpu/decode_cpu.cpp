// CPU box decoding: DFL expectation (when reg_max > 0) then ltrb * stride around the anchor point.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "yolov6_edge/decode.h"

namespace yolov6_edge {

void decode_boxes_cpu(const float* reg, const float* anchors, const float* strides, int batch, int num_anchors,
                      int reg_max, float* out) {
  if (batch < 0 || num_anchors < 0 || reg_max < 0) throw std::invalid_argument("decode_boxes: negative size");
  const int bins = reg_max + 1;
  const int width = reg_max > 0 ? 4 * bins : 4;
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(batch) * num_anchors; ++i) {
    const float* r = reg + i * width;
    const std::int64_t a = i % num_anchors;
    float d[4];
    for (int side = 0; side < 4; ++side) {
      if (reg_max == 0) {
        d[side] = r[side];
        continue;
      }
      // Softmax shifted by the max logit so large logits do not overflow exp().
      const float* l = r + side * bins;
      float m = *std::max_element(l, l + bins), sum = 0.f, acc = 0.f;
      for (int k = 0; k < bins; ++k) {
        float e = std::exp(l[k] - m);
        sum += e, acc += e * k;
      }
      d[side] = acc / sum;
    }
    const float s = strides[a], ax = anchors[2 * a], ay = anchors[2 * a + 1];
    float* o = out + i * 4;
    o[0] = ax - d[0] * s, o[1] = ay - d[1] * s, o[2] = ax + d[2] * s, o[3] = ay + d[3] * s;
  }
}

}  // namespace yolov6_edge
