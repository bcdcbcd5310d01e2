// Box decoding: plain ltrb and DFL (softmax expectation) against values worked out by hand.
#include <cmath>
#include <vector>

#include "check.h"
#include "yolov6_edge/decode.h"
#include "yolov6_edge/device.h"

using namespace yolov6_edge;

int main() {
  // Two anchors, plain ltrb in stride units.
  std::vector<float> anchors = {4, 4, 24, 8}, strides = {8, 16};
  std::vector<float> reg = {1, 2, 3, 4, 0.5f, 0.5f, 0.25f, 0};
  std::vector<float> out(8);
  decode_boxes_cpu(reg.data(), anchors.data(), strides.data(), 1, 2, 0, out.data());
  const float want[8] = {4 - 8, 4 - 16, 4 + 24, 4 + 32, 24 - 8, 8 - 8, 24 + 4, 8};
  for (int i = 0; i < 8; ++i) CHECK_NEAR(out[i], want[i], 1e-6);

  // DFL with reg_max 2: logits (0, ln 2, ln 3) -> probabilities (1, 2, 3) / 6 -> distance (0 + 2 + 6) / 6.
  std::vector<float> dfl;
  for (int side = 0; side < 4; ++side) dfl.insert(dfl.end(), {0.f, std::log(2.f), std::log(3.f)});
  // Large logits must not overflow: the same distribution shifted by 1000.
  for (int side = 0; side < 4; ++side) dfl.insert(dfl.end(), {1000.f, 1000.f + std::log(2.f), 1000.f + std::log(3.f)});
  decode_boxes_cpu(dfl.data(), anchors.data(), strides.data(), 1, 2, 2, out.data());
  const double dist = 8.0 / 6.0;
  CHECK_NEAR(out[0], 4 - dist * 8, 1e-5);
  CHECK_NEAR(out[3], 4 + dist * 8, 1e-5);
  CHECK_NEAR(out[4], 24 - dist * 16, 1e-4);
  CHECK_NEAR(out[7], 8 + dist * 16, 1e-4);

  // Device queries must answer without a GPU (false) rather than fail.
  CHECK(cuda_available() == false || cuda_built());
  return TEST_MAIN_RESULT();
}
