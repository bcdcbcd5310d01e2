// yolov6_edge::Detector: a TensorRT 10.x/11.x engine behind three calls. Construct from an engine path, call
// on an image or a batch, get detections back in original-image pixels. No TensorRT or CUDA type appears
// here, so a program using it needs neither header.
//
// The engine is one built by `yolov6-edge build` (input `images` [B,3,H,W] float32, outputs `boxes`
// [B,N,4] xyxy and `scores` [B,N,C]). Pre-processing (letterbox_cuda) writes straight into the engine's
// input binding; batched_nms_cuda runs on the engine's output bindings; only detections come back to the
// host. One CUDA stream per Detector; a Detector is not thread-safe (use one per thread).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "yolov6_edge/export.h"
#include "yolov6_edge/letterbox.h"
#include "yolov6_edge/nms.h"

namespace yolov6_edge {

struct DetectorOptions {
  NmsOptions nms;       // conf/iou thresholds, max_det, multi-label, agnostic
  bool center = true;   // centred letterbox (how the models were trained)
  int device = 0;       // CUDA device index
};

class YOLOV6_EDGE_API Detector {
 public:
  // Throws std::runtime_error naming the file for a missing or unreadable engine, an engine TensorRT cannot
  // deserialize (another TensorRT version or GPU: rebuild it with `yolov6-edge build`), or unexpected I/O.
  explicit Detector(const std::string& engine_path, const DetectorOptions& options = DetectorOptions());
  ~Detector();
  Detector(Detector&&) noexcept;
  Detector& operator=(Detector&&) noexcept;
  Detector(const Detector&) = delete;
  Detector& operator=(const Detector&) = delete;

  // Host uint8 BGR images (ImageView from letterbox.h). Batches above max_batch() run in chunks.
  std::vector<Detection> operator()(const ImageView& image);
  std::vector<std::vector<Detection>> operator()(const std::vector<ImageView>& images);

  int input_height() const;
  int input_width() const;
  int max_batch() const;
  int num_classes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace yolov6_edge
