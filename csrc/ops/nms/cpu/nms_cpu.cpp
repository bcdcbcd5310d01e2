// CPU batched NMS. Per image: collect (box, class) candidates above the threshold, keep the top
// max_candidates, sort them once, then walk them in score order checking each only against the kept
// detections of its own class (or all kept ones when agnostic). This equals running greedy NMS per class and
// merging, and it can stop as soon as max_det detections are kept. Past a few kept boxes of one class, a
// candidate is compared only with the kept boxes near it (a grid, below), so the cost stays about
// O(K log K) for K candidates even when max_det is as large as K; memory follows K, not the class count.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "../../common/parallel.h"
#include "../nms_math.h"
#include "yolov6_edge/nms.h"

namespace yolov6_edge {
namespace {

struct Candidate {
  float score;
  std::int32_t key;  // box index * C + class: the tie-break, and where box and class are read from
};

inline bool before(const Candidate& a, const Candidate& b) {
  return a.score > b.score || (a.score == b.score && a.key < b.key);
}

using detail::finite_box;

// The IoU the CUDA kernel computes (../nms_math.h), in double so the result does not depend on evaluation
// order (the numpy reference does the same).
inline double iou(const float* a, const float* b) {
  return detail::box_iou<double>(a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]);
}

std::vector<Candidate> collect(const float* boxes, const float* scores, int n, int c, const NmsOptions& o) {
  std::vector<Candidate> cand;
  for (int i = 0; i < n; ++i) {
    const float* s = scores + static_cast<std::int64_t>(i) * c;
    if (o.multi_label) {
      bool box_ok = true, checked = false;
      for (int k = 0; k < c; ++k) {
        if (!detail::above(s[k], o.conf_thres)) continue;  // NaN fails here
        if (!checked) box_ok = finite_box(boxes + 4LL * i), checked = true;
        if (!box_ok) break;
        cand.push_back({s[k], i * c + k});
      }
    } else {
      float best_s = 0.f;
      const int best = detail::best_class(s, c, &best_s);
      if (best >= 0 && detail::above(best_s, o.conf_thres) && finite_box(boxes + 4LL * i))
        cand.push_back({best_s, i * c + best});
    }
  }
  return cand;
}

// Kept boxes of one class (of all classes when agnostic). A candidate is checked against them; while the
// group is small a scan is cheapest. A suppressing box must overlap the candidate (IoU > iou_thres >= 0
// needs a positive intersection), so once a group grows past kScanLimit its boxes also go into a grid of
// cells and a candidate is checked only against the kept boxes sharing a cell with it. The grid is an exact
// filter: it skips only pairs whose IoU is 0, so results equal the plain scan's, and keeping max_det boxes
// of one class costs about K * (boxes per cell) instead of K * max_det IoUs.
constexpr std::size_t kScanLimit = 32;
constexpr std::int64_t kMaxCellsPerBox = 64;  // wider boxes are scanned, not put in (or looked up in) cells
constexpr std::int64_t kGridCells = 1 << 20;  // cell indices are clamped to [0, kGridCells): still monotone

struct CellRange {
  std::int64_t x0, x1, y0, y1;
  std::int64_t count() const { return (x1 - x0 + 1) * (y1 - y0 + 1); }
};

struct GridFrame {
  double x0 = 0.0, y0 = 0.0, inv = 1.0;  // origin and 1 / cell size, shared by every group of one image

  std::int64_t cell(double v, double origin) const {
    double c = std::floor((v - origin) * inv);
    if (!(c >= 0.0)) return 0;
    return c >= kGridCells - 1 ? kGridCells - 1 : static_cast<std::int64_t>(c);
  }
  CellRange range(const float* b) const {
    return {cell(b[0], x0), cell(b[2], x0), cell(b[1], y0), cell(b[3], y0)};
  }
};

inline bool positive_area(const float* b) { return b[2] > b[0] && b[3] > b[1]; }

struct Group {
  std::vector<int> kept;  // box indices, in the order kept
  std::unordered_map<std::uint64_t, std::vector<int>> cells;  // filled once kept.size() reaches kScanLimit
  std::vector<int> wide;  // kept boxes spanning more than kMaxCellsPerBox cells (checked every time)
  bool gridded = false;

  void index(int box, const float* boxes, const GridFrame& f) {
    const float* b = boxes + 4LL * box;
    if (!positive_area(b)) return;  // IoU 0 with everything: it never suppresses
    CellRange r = f.range(b);
    if (r.count() > kMaxCellsPerBox) {
      wide.push_back(box);
      return;
    }
    for (std::int64_t x = r.x0; x <= r.x1; ++x)
      for (std::int64_t y = r.y0; y <= r.y1; ++y) cells[static_cast<std::uint64_t>(x) << 32 | y].push_back(box);
  }
};

bool overlaps_any(const float* b, const float* boxes, const std::vector<int>& list, float iou_thres) {
  for (int j : list)
    if (detail::suppresses(iou(b, boxes + 4LL * j), iou_thres)) return true;
  return false;
}

bool suppressed(const float* b, const float* boxes, const Group& g, const GridFrame& f, float iou_thres) {
  if (g.kept.empty()) return false;
  if (iou_thres < 0.f) return true;  // every IoU (>= 0) exceeds it
  if (!g.gridded) return overlaps_any(b, boxes, g.kept, iou_thres);
  if (!positive_area(b)) return false;
  CellRange r = f.range(b);
  if (r.count() > kMaxCellsPerBox) return overlaps_any(b, boxes, g.kept, iou_thres);
  if (overlaps_any(b, boxes, g.wide, iou_thres)) return true;
  for (std::int64_t x = r.x0; x <= r.x1; ++x)
    for (std::int64_t y = r.y0; y <= r.y1; ++y) {
      auto it = g.cells.find(static_cast<std::uint64_t>(x) << 32 | y);
      if (it != g.cells.end() && overlaps_any(b, boxes, it->second, iou_thres)) return true;
    }
  return false;
}

// Origin at the candidates' top-left corner, cell size the median of their larger sides, so a typical box
// spans at most 2x2 cells.
GridFrame make_frame(const float* boxes, const std::vector<Candidate>& cand, int c) {
  GridFrame f;
  std::vector<float> sides;
  double x0 = 0.0, y0 = 0.0;
  bool first = true;
  for (const Candidate& cd : cand) {
    const float* b = boxes + 4LL * (cd.key / c);
    if (!positive_area(b)) continue;
    sides.push_back(std::max(b[2] - b[0], b[3] - b[1]));
    x0 = first ? b[0] : std::min<double>(x0, b[0]);
    y0 = first ? b[1] : std::min<double>(y0, b[1]);
    first = false;
  }
  if (sides.empty()) return f;
  std::nth_element(sides.begin(), sides.begin() + sides.size() / 2, sides.end());
  double cell = sides[sides.size() / 2];
  f.x0 = x0, f.y0 = y0, f.inv = (cell > 0.0 && std::isfinite(1.0 / cell)) ? 1.0 / cell : 1.0;
  return f;
}

std::vector<Detection> nms_one(const float* boxes, const float* scores, int n, int c, const NmsOptions& o) {
  std::vector<Detection> kept;
  if (n == 0 || c == 0 || o.max_det == 0) return kept;
  std::vector<Candidate> cand = collect(boxes, scores, n, c, o);
  if (cand.empty()) return kept;
  if (static_cast<long>(cand.size()) > o.max_candidates) {
    std::nth_element(cand.begin(), cand.begin() + o.max_candidates, cand.end(), before);
    cand.resize(o.max_candidates);
  }
  std::sort(cand.begin(), cand.end(), before);

  // One group per class that has candidates: memory follows the candidates, not the class count (a dense
  // table only while the class count is of the candidates' order).
  const bool dense = o.agnostic || static_cast<std::size_t>(c) <= 2 * cand.size() + 1024;
  std::unordered_map<int, int> slot_of;
  std::vector<Group> groups(o.agnostic ? 1 : dense ? c : 0);
  GridFrame frame;
  bool framed = false;
  for (const Candidate& cd : cand) {
    const int box = cd.key / c, cls = cd.key % c;
    const float* b = boxes + 4LL * box;
    int slot = o.agnostic ? 0 : cls;
    if (!dense) {
      auto ins = slot_of.emplace(cls, static_cast<int>(groups.size()));
      if (ins.second) groups.emplace_back();
      slot = ins.first->second;
    }
    Group& g = groups[slot];
    if (suppressed(b, boxes, g, frame, o.iou_thres)) continue;
    g.kept.push_back(box);
    if (g.gridded) {
      g.index(box, boxes, frame);
    } else if (g.kept.size() >= kScanLimit && o.iou_thres >= 0.f) {
      if (!framed) frame = make_frame(boxes, cand, c), framed = true;
      for (int k : g.kept) g.index(k, boxes, frame);
      g.gridded = true;
    }
    kept.push_back({b[0], b[1], b[2], b[3], cd.score, static_cast<float>(cls)});
    if (static_cast<int>(kept.size()) >= o.max_det) break;
  }
  return kept;
}

}  // namespace

std::vector<std::vector<Detection>> batched_nms_cpu(const float* boxes, const float* scores, int batch,
                                                    int num_boxes, int num_classes, const NmsOptions& options,
                                                    int num_threads) {
  check_nms_args(batch, num_boxes, num_classes, options);
  std::vector<std::vector<Detection>> out(batch);
  const std::int64_t box_stride = 4LL * num_boxes, score_stride = static_cast<std::int64_t>(num_boxes) * num_classes;
  detail::parallel_for(batch, num_threads, 1, [&](long begin, long end) {
    for (long b = begin; b < end; ++b)
      out[b] = nms_one(boxes + b * box_stride, scores + b * score_stride, num_boxes, num_classes, options);
  });
  return out;
}

}  // namespace yolov6_edge
