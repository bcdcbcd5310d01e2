// Letterbox geometry, padding, colour order, interpolation (against a direct double-precision bilinear
// formula written here), float16 output, mixed batches and argument errors.
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <vector>

#include "check.h"
#include "yolov6_edge/letterbox.h"

using namespace yolov6_edge;

namespace {

struct Image {
  int h, w;
  std::vector<std::uint8_t> px;
  ImageView view() const { return {px.data(), h, w, static_cast<std::int64_t>(w) * 3}; }
};

Image random_image(int h, int w, unsigned seed) {
  std::mt19937 rng(seed);
  Image im{h, w, std::vector<std::uint8_t>(static_cast<size_t>(h) * w * 3)};
  for (auto& p : im.px) p = static_cast<std::uint8_t>(rng() & 0xff);
  return im;
}

// Textbook bilinear sample with half-pixel centres and clamped edges, in double.
double bilinear(const Image& im, double sx, double sy, int ch) {
  auto clampi = [](int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); };
  sx = sx < 0 ? 0 : sx, sy = sy < 0 ? 0 : sy;
  int x0 = static_cast<int>(sx), y0 = static_cast<int>(sy);
  double fx = sx - x0, fy = sy - y0;
  if (x0 >= im.w - 1) x0 = im.w - 1, fx = 0;
  if (y0 >= im.h - 1) y0 = im.h - 1, fy = 0;
  int x1 = clampi(x0 + 1, 0, im.w - 1), y1 = clampi(y0 + 1, 0, im.h - 1);
  auto p = [&](int y, int x) { return static_cast<double>(im.px[(static_cast<size_t>(y) * im.w + x) * 3 + ch]); };
  return (p(y0, x0) * (1 - fx) + p(y0, x1) * fx) * (1 - fy) + (p(y1, x0) * (1 - fx) + p(y1, x1) * fx) * fy;
}

void check_against_formula(const Image& im, int dh, int dw, bool center) {
  std::vector<float> out(3 * static_cast<size_t>(dh) * dw);
  LetterboxParams p;
  ImageView v = im.view();
  letterbox_cpu(&v, 1, dh, dw, center, OutputType::kFloat32, out.data(), &p, 2);
  LetterboxGeometry g = letterbox_geometry(im.h, im.w, dh, dw, center);
  CHECK(p.scale == g.params.scale && p.pad_left == g.params.pad_left && p.pad_top == g.params.pad_top);
  double max_err = 0;
  for (int y = 0; y < dh; ++y)
    for (int x = 0; x < dw; ++x)
      for (int c = 0; c < 3; ++c) {
        int rx = x - static_cast<int>(p.pad_left), ry = y - static_cast<int>(p.pad_top);
        double want = 114.0;
        if (rx >= 0 && ry >= 0 && rx < g.new_width && ry < g.new_height)
          want = bilinear(im, (rx + 0.5) * im.w / g.new_width - 0.5, (ry + 0.5) * im.h / g.new_height - 0.5, 2 - c);
        double got = out[(static_cast<size_t>(c) * dh + y) * dw + x] * 255.0;
        max_err = std::max(max_err, std::fabs(got - want));
      }
  CHECK_NEAR(max_err, 0.0, 0.02);  // float weights vs double: far below one grey level
}

}  // namespace

int main() {
  // Geometry: 1920x1080 into 640x640 -> 640x360, 140 rows of padding above; odd padding goes right/bottom.
  LetterboxGeometry g = letterbox_geometry(1080, 1920, 640, 640, true);
  CHECK(g.new_width == 640 && g.new_height == 360 && g.params.pad_left == 0 && g.params.pad_top == 140);
  CHECK_NEAR(g.params.scale, 1.0 / 3.0, 1e-7);
  g = letterbox_geometry(10, 7, 10, 10, true);
  CHECK(g.new_width == 7 && g.params.pad_left == 1);
  g = letterbox_geometry(10, 7, 10, 10, false);
  CHECK(g.params.pad_left == 0 && g.params.pad_top == 0);
  g = letterbox_geometry(1, 4000, 640, 640, true);
  CHECK(g.new_height == 1 && g.new_width == 640);
  CHECK_THROWS(letterbox_geometry(0, 5, 640, 640, true), std::invalid_argument);
  CHECK_THROWS(letterbox_geometry(5, 5, 640, 0, true), std::invalid_argument);

  // Solid colour: exact values inside, 114 outside, BGR -> RGB.
  Image solid{20, 40, std::vector<std::uint8_t>(20 * 40 * 3)};
  for (size_t i = 0; i < solid.px.size(); i += 3) solid.px[i] = 10, solid.px[i + 1] = 100, solid.px[i + 2] = 250;
  std::vector<float> out(3 * 64 * 64);
  LetterboxParams p;
  ImageView v = solid.view();
  letterbox_cpu(&v, 1, 64, 64, true, OutputType::kFloat32, out.data(), &p);
  CHECK(p.pad_top == 16 && p.pad_left == 0);
  CHECK_NEAR(out[0], 114.0 / 255, 1e-7);                    // R plane, top padding
  CHECK_NEAR(out[32 * 64 + 10], 250.0 / 255, 1e-6);         // R
  CHECK_NEAR(out[64 * 64 + 32 * 64 + 10], 100.0 / 255, 1e-6);  // G
  CHECK_NEAR(out[2 * 64 * 64 + 32 * 64 + 10], 10.0 / 255, 1e-6);  // B

  // Interpolation against the formula: down, up, thin, odd.
  check_against_formula(random_image(50, 80, 1), 32, 32, true);
  check_against_formula(random_image(7, 5, 2), 40, 64, true);
  check_against_formula(random_image(1, 300, 3), 64, 64, false);
  check_against_formula(random_image(301, 2, 4), 64, 48, true);
  check_against_formula(random_image(64, 64, 5), 64, 64, true);

  // Mixed batch equals single calls; float16 equals the float32 result rounded.
  Image a = random_image(33, 70, 6), b = random_image(90, 20, 7);
  ImageView views[2] = {a.view(), b.view()};
  std::vector<float> batch(2 * 3 * 48 * 48), single(3 * 48 * 48);
  std::vector<std::uint16_t> half(2 * 3 * 48 * 48);
  LetterboxParams bp[2], sp;
  letterbox_cpu(views, 2, 48, 48, true, OutputType::kFloat32, batch.data(), bp, 3);
  letterbox_cpu(views, 2, 48, 48, true, OutputType::kFloat16, half.data(), bp, 3);
  letterbox_cpu(&views[1], 1, 48, 48, true, OutputType::kFloat32, single.data(), &sp, 1);
  CHECK(std::memcmp(batch.data() + single.size(), single.data(), single.size() * sizeof(float)) == 0);
  CHECK(sp.scale == bp[1].scale && sp.pad_left == bp[1].pad_left);
  int half_bad = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    std::uint16_t h = half[i];
    int e = (h >> 10) & 31, m = h & 1023;
    double val = e ? std::ldexp(1.0 + m / 1024.0, e - 15) : std::ldexp(m / 1024.0, -14);
    if (std::fabs(val - batch[i]) > std::ldexp(1.0, -12)) ++half_bad;  // half spacing below 1 is <= 2^-11
  }
  CHECK(half_bad == 0);

  // Errors.
  ImageView null_view{nullptr, 4, 4, 12};
  CHECK_THROWS(letterbox_cpu(&null_view, 1, 8, 8, true, OutputType::kFloat32, out.data(), &p), std::invalid_argument);
  ImageView short_stride{solid.px.data(), 20, 40, 100};
  CHECK_THROWS(letterbox_cpu(&short_stride, 1, 8, 8, true, OutputType::kFloat32, out.data(), &p), std::invalid_argument);
  letterbox_cpu(nullptr, 0, 8, 8, true, OutputType::kFloat32, nullptr, nullptr);  // empty batch is fine
  return TEST_MAIN_RESULT();
}
