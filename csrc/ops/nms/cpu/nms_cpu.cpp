// CPU batched NMS. Per image: collect (box, class) candidates above the threshold, keep the top
// max_candidates, sort them once, then walk them in score order checking each only against the kept
// detections of its own class (or all kept ones when agnostic). This equals running greedy NMS per class and
// merging, and it can stop as soon as max_det detections are kept, so the cost is O(K log K + K * max_det)
// instead of O(K^2) over all classes.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "../../common/parallel.h"
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

inline bool finite_box(const float* b) {
  return std::isfinite(b[0]) && std::isfinite(b[1]) && std::isfinite(b[2]) && std::isfinite(b[3]);
}

// Double precision so the result does not depend on evaluation order (the numpy reference does the same).
inline double iou(const float* a, const float* b) {
  double iw = std::max(0.0, std::min<double>(a[2], b[2]) - std::max<double>(a[0], b[0]));
  double ih = std::max(0.0, std::min<double>(a[3], b[3]) - std::max<double>(a[1], b[1]));
  double inter = iw * ih;
  double area_a = std::max(0.0, double(a[2]) - a[0]) * std::max(0.0, double(a[3]) - a[1]);
  double area_b = std::max(0.0, double(b[2]) - b[0]) * std::max(0.0, double(b[3]) - b[1]);
  double uni = area_a + area_b - inter;
  return uni > 0.0 ? inter / uni : 0.0;
}

std::vector<Candidate> collect(const float* boxes, const float* scores, int n, int c, const NmsOptions& o) {
  std::vector<Candidate> cand;
  for (int i = 0; i < n; ++i) {
    const float* s = scores + static_cast<std::int64_t>(i) * c;
    if (o.multi_label) {
      bool box_ok = true, checked = false;
      for (int k = 0; k < c; ++k) {
        if (!(s[k] > o.conf_thres)) continue;  // NaN fails here
        if (!checked) box_ok = finite_box(boxes + 4LL * i), checked = true;
        if (!box_ok) break;
        cand.push_back({s[k], i * c + k});
      }
    } else {
      int best = -1;
      float best_s = 0.f;
      for (int k = 0; k < c; ++k)
        if (s[k] == s[k] && (best < 0 || s[k] > best_s)) best = k, best_s = s[k];
      if (best >= 0 && best_s > o.conf_thres && finite_box(boxes + 4LL * i)) cand.push_back({best_s, i * c + best});
    }
  }
  return cand;
}

std::vector<Detection> nms_one(const float* boxes, const float* scores, int n, int c, const NmsOptions& o) {
  std::vector<Detection> kept;
  if (n == 0 || c == 0 || o.max_det == 0) return kept;
  std::vector<Candidate> cand = collect(boxes, scores, n, c, o);
  if (static_cast<long>(cand.size()) > o.max_candidates) {
    std::nth_element(cand.begin(), cand.begin() + o.max_candidates, cand.end(), before);
    cand.resize(o.max_candidates);
  }
  std::sort(cand.begin(), cand.end(), before);

  // Kept box indices grouped by class (one group when agnostic).
  std::vector<std::vector<int>> kept_by_class(o.agnostic ? 1 : c);
  for (const Candidate& cd : cand) {
    const int box = cd.key / c, cls = cd.key % c;
    const float* b = boxes + 4LL * box;
    std::vector<int>& group = kept_by_class[o.agnostic ? 0 : cls];
    bool suppressed = false;
    for (int j : group)
      if (iou(b, boxes + 4LL * j) > o.iou_thres) {
        suppressed = true;
        break;
      }
    if (suppressed) continue;
    group.push_back(box);
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
