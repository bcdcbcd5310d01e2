// Batched NMS on hand-made cases (suppression, classes, multi-label, NaN/inf, ties, max_det, empty) and on
// random inputs against a brute-force greedy NMS per class written here.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include "check.h"
#include "yolov6_edge/nms.h"

using namespace yolov6_edge;

namespace {

struct Cand {
  int box, cls;
  float score;
};

double ref_iou(const float* a, const float* b) {
  double iw = std::max(0.0, std::min<double>(a[2], b[2]) - std::max<double>(a[0], b[0]));
  double ih = std::max(0.0, std::min<double>(a[3], b[3]) - std::max<double>(a[1], b[1]));
  double aa = std::max(0.0, double(a[2]) - a[0]) * std::max(0.0, double(a[3]) - a[1]);
  double ab = std::max(0.0, double(b[2]) - b[0]) * std::max(0.0, double(b[3]) - b[1]);
  double u = aa + ab - iw * ih;
  return u > 0 ? iw * ih / u : 0.0;
}

// Per class: sort, suppress everything overlapping each survivor (O(k^2)), then merge and cut at max_det.
std::vector<Detection> brute_force(const std::vector<float>& boxes, const std::vector<float>& scores, int n, int c,
                                   const NmsOptions& o) {
  std::vector<Cand> cands;
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < c; ++k) {
      float s = scores[i * c + k];
      if (!o.multi_label) {
        int best = 0;
        for (int j = 1; j < c; ++j)
          if (scores[i * c + j] > scores[i * c + best]) best = j;
        if (k != best) continue;
      }
      if (s > o.conf_thres) cands.push_back({i, k, s});
    }
  auto order = [c](const Cand& a, const Cand& b) {
    return a.score > b.score || (a.score == b.score && a.box * c + a.cls < b.box * c + b.cls);
  };
  std::sort(cands.begin(), cands.end(), order);
  if (static_cast<int>(cands.size()) > o.max_candidates) cands.resize(o.max_candidates);
  std::vector<char> dead(cands.size(), 0);
  std::vector<Cand> kept;
  for (size_t i = 0; i < cands.size(); ++i) {
    if (dead[i]) continue;
    kept.push_back(cands[i]);
    for (size_t j = i + 1; j < cands.size(); ++j)
      if ((o.agnostic || cands[j].cls == cands[i].cls) &&
          ref_iou(&boxes[cands[i].box * 4], &boxes[cands[j].box * 4]) > o.iou_thres)
        dead[j] = 1;
  }
  std::sort(kept.begin(), kept.end(), order);
  if (static_cast<int>(kept.size()) > o.max_det) kept.resize(o.max_det);
  std::vector<Detection> out;
  for (const Cand& k : kept) {
    const float* b = &boxes[k.box * 4];
    out.push_back({b[0], b[1], b[2], b[3], k.score, static_cast<float>(k.cls)});
  }
  return out;
}

bool same(const std::vector<Detection>& a, const std::vector<Detection>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].x1 != b[i].x1 || a[i].y2 != b[i].y2 || a[i].score != b[i].score || a[i].class_id != b[i].class_id)
      return false;
  return true;
}

std::vector<Detection> run(const std::vector<float>& boxes, const std::vector<float>& scores, int n, int c,
                           NmsOptions o = {}) {
  return batched_nms_cpu(boxes.data(), scores.data(), 1, n, c, o, 1)[0];
}

}  // namespace

int main() {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  // Two overlapping boxes of one class: the lower score goes; of two classes: both stay unless agnostic.
  std::vector<float> boxes = {0, 0, 10, 10, 1, 1, 11, 11, 50, 50, 60, 60};
  std::vector<float> one_class = {0.9f, 0.8f, 0.7f};
  CHECK(run(boxes, one_class, 3, 1).size() == 2);
  std::vector<float> two = {0.9f, 0.1f, 0.1f, 0.8f, 0.7f, 0.0f};
  CHECK(run(boxes, two, 3, 2).size() == 3);
  NmsOptions agn;
  agn.agnostic = true;
  CHECK(run(boxes, two, 3, 2, agn).size() == 2);
  NmsOptions ml;
  ml.multi_label = true;
  std::vector<float> both = {0.9f, 0.6f, 0.0f, 0.0f, 0.0f, 0.0f};
  auto d = run(boxes, both, 3, 2, ml);
  CHECK(d.size() == 2 && d[0].class_id == 0 && d[1].class_id == 1 && d[1].score == 0.6f);

  // NaN scores and non-finite boxes are dropped; zero-area boxes never suppress.
  std::vector<float> nan_scores = {nan, 0.8f, 0.7f};
  d = run(boxes, nan_scores, 3, 1);
  CHECK(d.size() == 2 && d[0].score == 0.8f);
  std::vector<float> inf_boxes = {0, 0, inf, 10, 1, 1, 11, 11, 50, 50, 60, nan};
  d = run(inf_boxes, one_class, 3, 1);
  CHECK(d.size() == 1 && d[0].score == 0.8f);
  std::vector<float> flat = {0, 0, 10, 10, 5, 5, 5, 5, 0, 0, 10, 10};
  d = run(flat, one_class, 3, 1);
  CHECK(d.size() == 2 && d[1].score == 0.8f);

  // Ties: the lower index is kept and listed first; max_det cuts the tail.
  std::vector<float> dup = {0, 0, 10, 10, 0, 0, 10, 10, 20, 20, 30, 30, 40, 40, 50, 50};
  std::vector<float> tie = {0.5f, 0.5f, 0.5f, 0.5f};
  d = run(dup, tie, 4, 1);
  CHECK(d.size() == 3 && d[0].x1 == 0 && d[1].x1 == 20 && d[2].x1 == 40);
  NmsOptions cap;
  cap.max_det = 2;
  CHECK(run(dup, tie, 4, 1, cap).size() == 2);

  // Empty inputs and bad arguments.
  CHECK(batched_nms_cpu(nullptr, nullptr, 0, 0, 0, NmsOptions{}).empty());
  CHECK(batched_nms_cpu(boxes.data(), nullptr, 1, 3, 0, NmsOptions{})[0].empty());
  NmsOptions bad;
  bad.max_det = -1;
  CHECK_THROWS(batched_nms_cpu(boxes.data(), one_class.data(), 1, 3, 1, bad), std::invalid_argument);
  bad = {};
  bad.max_candidates = 0;
  CHECK_THROWS(batched_nms_cpu(boxes.data(), one_class.data(), 1, 3, 1, bad), std::invalid_argument);

  // Random inputs (coarse scores for ties) against the brute force, every mode, batch of 3 in parallel.
  std::mt19937 rng(123);
  std::uniform_real_distribution<float> pos(0, 300), size(1, 80), sc(0, 1);
  const int n = 400, c = 6, batch = 3;
  std::vector<float> rb(batch * n * 4), rs(batch * n * c);
  for (int i = 0; i < batch * n; ++i) {
    float x = pos(rng), y = pos(rng);
    rb[i * 4] = x, rb[i * 4 + 1] = y, rb[i * 4 + 2] = x + size(rng), rb[i * 4 + 3] = y + size(rng);
  }
  for (float& s : rs) s = std::round(sc(rng) * 20) / 20;
  for (int mode = 0; mode < 8; ++mode) {
    NmsOptions o;
    o.multi_label = mode & 1, o.agnostic = mode & 2, o.conf_thres = 0.2f, o.iou_thres = 0.5f;
    if (mode & 4) o.max_det = 25, o.max_candidates = 300;
    auto got = batched_nms_cpu(rb.data(), rs.data(), batch, n, c, o, 2);
    for (int b = 0; b < batch; ++b) {
      std::vector<float> bb(rb.begin() + b * n * 4, rb.begin() + (b + 1) * n * 4);
      std::vector<float> ss(rs.begin() + b * n * c, rs.begin() + (b + 1) * n * c);
      CHECK(same(got[b], brute_force(bb, ss, n, c, o)));
    }
  }
  return TEST_MAIN_RESULT();
}
