// The per-element functions the CPU ops and the CUDA kernels share (csrc/ops/*/..._pixel.h, nms_math.h,
// decode_box.h), checked here on the host: taps against a double-precision cv2 INTER_LINEAR reference, the
// bilinear sample, the IoU in float (what the kernel runs) against double (what the CPU op runs), candidate
// selection. The CPU op tests run the same functions inside the ops; test_cuda_ops runs them on a GPU.
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#include "../../csrc/ops/decode/decode_box.h"
#include "../../csrc/ops/letterbox/letterbox_pixel.h"
#include "../../csrc/ops/nms/nms_math.h"
#include "check.h"

using namespace yolov6_edge::detail;

static void taps_follow_cv2_inter_linear() {
  const int cases[][2] = {{1920, 640}, {1080, 360}, {1, 5}, {37, 91}, {640, 640}, {4000, 1}, {3, 1000}};
  for (const auto& c : cases) {
    const int src = c[0], dst = c[1];
    const float inv = static_cast<float>(static_cast<double>(src) / dst);
    for (int d = 0; d < dst; ++d) {
      const Tap t = bilinear_tap(d, inv, src);
      double s = (d + 0.5) * (static_cast<double>(src) / dst) - 0.5;
      int i0 = static_cast<int>(std::floor(s));
      double w = s - i0;
      if (i0 < 0) i0 = 0, w = 0;
      if (i0 >= src - 1) i0 = src - 1, w = 0;
      CHECK(t.i0 >= 0 && t.i1 < src && t.i1 >= t.i0 && t.i1 - t.i0 <= 1);
      // float vs double coordinates: the same tap, or the neighbouring one with the weight at its edge
      if (t.i0 == i0) {
        CHECK_NEAR(t.w1, w, 2e-3);
      } else {
        CHECK(std::abs(t.i0 - i0) == 1 && (t.w1 < 2e-3 || t.w1 > 1 - 2e-3 || w < 2e-3 || w > 1 - 2e-3));
      }
    }
  }
  // identity: every output pixel is its source pixel, weight 0
  for (int d = 0; d < 640; ++d) {
    const Tap t = bilinear_tap(d, 1.f, 640);
    CHECK(t.i0 == d && t.w1 == 0.f);
  }
}

static void bilinear_sample_blends_then_scales() {
  CHECK(bilinear_sample(255.f, 0.f, 0.f, 0.f, 0.f, 0.f) == 1.f);  // all weight on the top-left pixel
  CHECK(bilinear_sample(0.f, 0.f, 0.f, 255.f, 1.f, 1.f) == 1.f);  // all on the bottom-right
  CHECK_NEAR(bilinear_sample(0.f, 255.f, 0.f, 255.f, 0.25f, 0.7f), 0.25, 1e-6);
  CHECK_NEAR(bilinear_sample(10.f, 20.f, 30.f, 40.f, 0.5f, 0.5f), 25.0 / 255.0, 1e-7);
  CHECK(pad_unit() == 114.f / 255.f);
  CHECK(on_image(5, 5, 5, 5, 1, 1) && !on_image(6, 5, 5, 5, 1, 1) && !on_image(4, 5, 5, 5, 1, 1));
}

static void iou_in_float_agrees_with_double() {
  std::mt19937 rng(0);
  std::uniform_real_distribution<float> pos(0.f, 640.f), size(0.5f, 200.f);
  for (int i = 0; i < 20000; ++i) {
    const float ax = pos(rng), ay = pos(rng), bx = ax + pos(rng) * 0.1f - 32.f, by = ay + pos(rng) * 0.1f - 32.f;
    const float a[4] = {ax, ay, ax + size(rng), ay + size(rng)}, b[4] = {bx, by, bx + size(rng), by + size(rng)};
    const double d = box_iou<double>(a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]);
    const float f = box_iou<float>(a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]);
    CHECK(d >= 0.0 && d <= 1.0);
    CHECK_NEAR(f, d, 1e-5);
    CHECK(box_iou<double>(b[0], b[1], b[2], b[3], a[0], a[1], a[2], a[3]) == d);  // symmetric
  }
  CHECK(box_iou<float>(0, 0, 10, 10, 0, 0, 10, 10) == 1.f);
  CHECK(box_iou<float>(0, 0, 10, 10, 10, 0, 20, 10) == 0.f);      // touching edges
  CHECK(box_iou<double>(5, 5, 5, 5, 5, 5, 5, 5) == 0.0);           // no area: no overlap, no NaN
  CHECK(box_iou<double>(10, 10, 0, 0, 0, 0, 10, 10) == 0.0);       // inverted box has no area
  CHECK_NEAR(box_iou<double>(0, 0, 10, 10, 5, 0, 15, 10), 50.0 / 150.0, 1e-12);
  CHECK(suppresses(0.5f, 0.45f) && !suppresses(0.45f, 0.45f) && suppresses(0.0, -1.f));
}

static void candidates_skip_nan_and_non_finite() {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  CHECK(!above(nan, 0.25f) && above(0.26f, 0.25f) && !above(0.25f, 0.25f));
  const float ok[4] = {0, 0, 1, 1}, bad[4] = {0, 0, inf, 1};
  CHECK(finite_box(ok) && !finite_box(bad));
  float s = -1.f;
  const float row[4] = {nan, 0.3f, 0.7f, 0.7f};
  CHECK(best_class(row, 4, &s) == 2 && s == 0.7f);  // NaN ignored, the lower class wins the tie
  const float all_nan[2] = {nan, nan};
  CHECK(best_class(all_nan, 2, &s) == -1);
}

static void decode_ltrb_and_dfl() {
  const float ltrb[4] = {1, 2, 3, 4};
  float out[4];
  decode_box(ltrb, 0, 8.f, 100.f, 50.f, out);
  CHECK(out[0] == 92.f && out[1] == 34.f && out[2] == 124.f && out[3] == 82.f);
  float dfl[4 * 17];
  for (int side = 0; side < 4; ++side)
    for (int k = 0; k < 17; ++k) dfl[side * 17 + k] = k == side + 2 ? 80.f : -80.f;  // one-hot at bin side + 2
  decode_box(dfl, 16, 1.f, 0.f, 0.f, out);
  CHECK_NEAR(out[0], -2, 1e-4);
  CHECK_NEAR(out[3], 5, 1e-4);
}

int main() {
  taps_follow_cv2_inter_linear();
  bilinear_sample_blends_then_scales();
  iou_in_float_agrees_with_double();
  candidates_skip_nan_and_non_finite();
  decode_ltrb_and_dfl();
  return y6test::failures == 0 ? 0 : 1;
}
