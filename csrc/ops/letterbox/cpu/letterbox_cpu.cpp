// CPU letterbox: one fused pass from the uint8 BGR images to the planar RGB output; the only
// temporaries are per-image tap tables and one float row per thread, no intermediate images.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../common/half.h"
#include "../../common/parallel.h"
#include "../letterbox_pixel.h"
#include "yolov6_edge/letterbox.h"

namespace yolov6_edge {
namespace {

using detail::Tap;

std::vector<Tap> make_taps(int src, int dst) {
  std::vector<Tap> taps(dst);
  const float inv = static_cast<float>(static_cast<double>(src) / dst);
  for (int d = 0; d < dst; ++d) taps[d] = detail::bilinear_tap(d, inv, src);
  return taps;
}

struct Plan {
  const ImageView* image;
  LetterboxGeometry geo;
  int pad_left, pad_top;
  std::vector<Tap> xs, ys;
};

template <typename T>
inline T convert(float v);
template <>
inline float convert<float>(float v) { return v; }
template <>
inline std::uint16_t convert<std::uint16_t>(float v) { return detail::float_to_half_bits(v); }

// One output row of one image, all three planes. Vertical blend first, over the whole source row: it is
// contiguous and vectorizes; the horizontal taps then gather from that float row (`rowbuf`, src_w * 3
// floats, owned by the calling thread). Same products as the CUDA kernel, in the same order.
template <typename T>
void fill_row(const Plan& p, int y, int dst_w, std::int64_t plane, T* out_image, float* rowbuf) {
  const T pad = convert<T>(detail::pad_unit());
  T* r = out_image + static_cast<std::int64_t>(y) * dst_w;
  T* g = r + plane;
  T* b = g + plane;
  int row = y - p.pad_top;
  if (row < 0 || row >= p.geo.new_height) {
    std::fill(r, r + dst_w, pad), std::fill(g, g + dst_w, pad), std::fill(b, b + dst_w, pad);
    return;
  }
  int x0 = p.pad_left, x1 = p.pad_left + p.geo.new_width;
  std::fill(r, r + x0, pad), std::fill(g, g + x0, pad), std::fill(b, b + x0, pad);
  std::fill(r + x1, r + dst_w, pad), std::fill(g + x1, g + dst_w, pad), std::fill(b + x1, b + dst_w, pad);

  const Tap& ty = p.ys[row];
  const std::uint8_t* s0 = p.image->data + ty.i0 * p.image->row_stride;
  const std::uint8_t* s1 = p.image->data + ty.i1 * p.image->row_stride;
  const float wy1 = ty.w1, wy0 = 1.f - ty.w1;
  const int n = p.image->width * 3;
  // detail::blend and to_unit are the kernel's own arithmetic (letterbox_pixel.h); inlined, the loop vectorizes.
  for (int j = 0; j < n; ++j) rowbuf[j] = detail::blend(s0[j], s1[j], wy0, wy1);

  const Tap* tx = p.xs.data();
  for (int x = 0; x < p.geo.new_width; ++x) {
    const float* a = rowbuf + tx[x].i0 * 3;
    const float* c = rowbuf + tx[x].i1 * 3;
    const float wx1 = tx[x].w1, wx0 = 1.f - wx1;
    // BGR in, RGB out.
    b[x0 + x] = convert<T>(detail::to_unit(detail::blend(a[0], c[0], wx0, wx1)));
    g[x0 + x] = convert<T>(detail::to_unit(detail::blend(a[1], c[1], wx0, wx1)));
    r[x0 + x] = convert<T>(detail::to_unit(detail::blend(a[2], c[2], wx0, wx1)));
  }
}

template <typename T>
void run(const std::vector<Plan>& plans, int dst_h, int dst_w, T* out, int num_threads) {
  const std::int64_t plane = static_cast<std::int64_t>(dst_h) * dst_w;
  const long rows = static_cast<long>(plans.size()) * dst_h;
  size_t widest = 0;
  for (const Plan& p : plans) widest = std::max(widest, static_cast<size_t>(p.image->width) * 3);
  // Rows of all images form one range, so a batch of small images and one large image both split well.
  detail::parallel_for(rows, num_threads, 64, [&](long begin, long end) {
    std::vector<float> rowbuf(widest);
    for (long i = begin; i < end; ++i) {
      const long n = i / dst_h;
      fill_row(plans[n], static_cast<int>(i % dst_h), dst_w, plane, out + n * 3 * plane, rowbuf.data());
    }
  });
}

}  // namespace

void letterbox_cpu(const ImageView* images, int batch, int dst_h, int dst_w, bool center, OutputType type,
                   void* out, LetterboxParams* params, int num_threads) {
  if (batch < 0) throw std::invalid_argument("letterbox: negative batch size");
  std::vector<Plan> plans(batch);
  for (int n = 0; n < batch; ++n) {
    const ImageView& im = images[n];
    if (im.data == nullptr) throw std::invalid_argument("letterbox: image " + std::to_string(n) + " has no data");
    if (im.row_stride < static_cast<std::int64_t>(im.width) * 3)
      throw std::invalid_argument("letterbox: image " + std::to_string(n) + " row stride is smaller than width*3");
    Plan& p = plans[n];
    p.image = &im;
    p.geo = letterbox_geometry(im.height, im.width, dst_h, dst_w, center);
    p.pad_left = static_cast<int>(p.geo.params.pad_left);
    p.pad_top = static_cast<int>(p.geo.params.pad_top);
    p.xs = make_taps(im.width, p.geo.new_width);
    p.ys = make_taps(im.height, p.geo.new_height);
    if (params) params[n] = p.geo.params;
  }
  if (type == OutputType::kFloat32)
    run(plans, dst_h, dst_w, static_cast<float*>(out), num_threads);
  else
    run(plans, dst_h, dst_w, static_cast<std::uint16_t*>(out), num_threads);
}

}  // namespace yolov6_edge
