// One (image, anchor) of box decoding, shared by the CPU loop and the CUDA kernel so that both compute the
// same arithmetic: DFL expectation (when reg_max > 0), then ltrb * stride around the anchor point.
#pragma once

#include <math.h>

#include "../common/host_device.h"

namespace yolov6_edge {
namespace detail {

// r: this anchor's regression outputs (4 * (reg_max + 1) logits, or 4 ltrb distances when reg_max == 0).
Y6_HOST_DEVICE inline void decode_box(const float* r, int reg_max, float stride, float ax, float ay, float out[4]) {
  const int bins = reg_max + 1;
  float d[4];
  for (int side = 0; side < 4; ++side) {
    if (reg_max == 0) {
      d[side] = r[side];
      continue;
    }
    // Softmax shifted by the max logit so large logits do not overflow exp().
    const float* l = r + side * bins;
    float m = l[0];
    for (int k = 1; k < bins; ++k)
      if (m < l[k]) m = l[k];
    float sum = 0.f, acc = 0.f;
    for (int k = 0; k < bins; ++k) {
      const float e = expf(l[k] - m);
      sum += e, acc += e * k;
    }
    d[side] = acc / sum;
  }
  out[0] = ax - d[0] * stride, out[1] = ay - d[1] * stride, out[2] = ax + d[2] * stride, out[3] = ay + d[3] * stride;
}

}  // namespace detail
}  // namespace yolov6_edge
