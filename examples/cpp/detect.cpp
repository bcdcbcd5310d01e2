// Detect objects in an image file with yolov6_edge, from C++.
//
//   detect IMAGE MODEL.engine [--conf 0.25] [--iou 0.45]   TensorRT engine from `yolov6-edge build` (needs the
//                                                        library's tensorrt component and a GPU)
//   detect IMAGE --raw IMAGE.raw [--conf ...] [--iou ...]  no TensorRT: the model's raw outputs on IMAGE, written
//                                                        by examples/cpp/write_raw_outputs.py; the same
//                                                        letterbox and NMS then run here on the CPU
//
// Prints "image W H", then "detections K" and one "det x1 y1 x2 y2 score class" line per detection, in
// original-image pixels clipped to the image (what the Python Detector returns for the same settings).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "image_io.h"
#include "yolov6_edge/letterbox.h"
#include "yolov6_edge/nms.h"
#include "yolov6_edge/version.h"
#ifdef YOLOV6_EDGE_EXAMPLE_TENSORRT
#include "yolov6_edge/detector.h"
#endif

namespace {

struct RawOutputs {
  int height = 0, width = 0, num_boxes = 0, num_classes = 0;
  bool center = true;
  std::vector<float> boxes, scores;
};

// The format write_raw_outputs.py writes: a text header line, then float32 little-endian boxes and scores.
RawOutputs read_raw(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error(path + ": cannot open (no such file, or not readable)");
  std::string line;
  std::getline(f, line);
  std::istringstream header(line);
  std::string magic;
  int version = 0, center = 1;
  RawOutputs r;
  header >> magic >> version >> r.height >> r.width >> r.num_boxes >> r.num_classes >> center;
  if (magic != "yolov6_edge_raw" || version != 1 || !header || r.height < 1 || r.width < 1 || r.num_boxes < 0 ||
      r.num_classes < 1)
    throw std::runtime_error(path + ": not a yolov6_edge_raw 1 file (write it with examples/cpp/write_raw_outputs.py)");
  r.center = center != 0;
  r.boxes.resize(static_cast<size_t>(r.num_boxes) * 4);
  r.scores.resize(static_cast<size_t>(r.num_boxes) * r.num_classes);
  f.read(reinterpret_cast<char*>(r.boxes.data()), static_cast<std::streamsize>(r.boxes.size() * sizeof(float)));
  f.read(reinterpret_cast<char*>(r.scores.data()), static_cast<std::streamsize>(r.scores.size() * sizeof(float)));
  if (!f) throw std::runtime_error(path + ": truncated (fewer values than the header's N * (4 + C))");
  return r;
}

// What the engine path does on the GPU, here on the CPU: letterbox as the model was fed, NMS on its outputs,
// boxes back to the original image and clipped to it.
std::vector<yolov6_edge::Detection> detect_from_raw(const BgrImage& im, const RawOutputs& raw,
                                                    const yolov6_edge::NmsOptions& nms) {
  yolov6_edge::ImageView view{im.bgr.data(), im.height, im.width, static_cast<std::int64_t>(im.width) * 3};
  std::vector<float> blob(3 * static_cast<size_t>(raw.height) * raw.width);
  yolov6_edge::LetterboxParams p;
  yolov6_edge::letterbox_cpu(&view, 1, raw.height, raw.width, raw.center, yolov6_edge::OutputType::kFloat32,
                             blob.data(), &p);
  auto dets = yolov6_edge::batched_nms_cpu(raw.boxes.data(), raw.scores.data(), 1, raw.num_boxes, raw.num_classes,
                                           nms)[0];
  const float w = static_cast<float>(im.width), h = static_cast<float>(im.height);
  for (auto& d : dets) {
    d.x1 = std::clamp((d.x1 - p.pad_left) / p.scale, 0.f, w);
    d.x2 = std::clamp((d.x2 - p.pad_left) / p.scale, 0.f, w);
    d.y1 = std::clamp((d.y1 - p.pad_top) / p.scale, 0.f, h);
    d.y2 = std::clamp((d.y2 - p.pad_top) / p.scale, 0.f, h);
  }
  return dets;
}

int usage(const char* argv0) {
  std::cerr << "usage: " << argv0 << " IMAGE MODEL.engine [--conf C] [--iou I]\n"
            << "       " << argv0 << " IMAGE --raw IMAGE.raw [--conf C] [--iou I]\n"
            << "images: " << readable_formats()
#ifdef YOLOV6_EDGE_EXAMPLE_TENSORRT
            << "; engines: yes\n";
#else
            << "; engines: no (this build has no TensorRT; use --raw)\n";
#endif
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string image, engine, raw;
  yolov6_edge::NmsOptions nms;  // conf 0.25, IoU 0.45, max 300, class-aware: the Python Detector's defaults
  try {
    for (size_t i = 0; i < args.size(); ++i) {
      const bool has_value = i + 1 < args.size();
      if (args[i] == "--raw" && has_value) {
        raw = args[++i];
      } else if (args[i] == "--conf" && has_value) {
        nms.conf_thres = std::stof(args[++i]);
      } else if (args[i] == "--iou" && has_value) {
        nms.iou_thres = std::stof(args[++i]);
      } else if (args[i].rfind("--", 0) == 0) {
        return usage(argv[0]);
      } else if (image.empty()) {
        image = args[i];
      } else if (engine.empty()) {
        engine = args[i];
      } else {
        return usage(argv[0]);
      }
    }
  } catch (const std::exception&) {
    return usage(argv[0]);
  }
  if (image.empty() || engine.empty() == raw.empty()) return usage(argv[0]);

  try {
    const BgrImage im = read_image(image);
    std::vector<yolov6_edge::Detection> dets;
    if (!raw.empty()) {
      dets = detect_from_raw(im, read_raw(raw), nms);
    } else {
#ifdef YOLOV6_EDGE_EXAMPLE_TENSORRT
      yolov6_edge::DetectorOptions options;
      options.nms = nms;
      yolov6_edge::Detector detector(engine, options);
      dets = detector(yolov6_edge::ImageView{im.bgr.data(), im.height, im.width,
                                             static_cast<std::int64_t>(im.width) * 3});
#else
      std::cerr << engine << ": this example was built without TensorRT (find_package(yolov6_edge COMPONENTS "
                << "tensorrt) found none); run it with --raw, see examples/cpp/write_raw_outputs.py\n";
      return 2;
#endif
    }
    std::printf("yolov6_edge %s\nimage %d %d\ndetections %zu\n", YOLOV6_EDGE_VERSION_STRING, im.width, im.height,
                dets.size());
    for (const auto& d : dets)
      std::printf("det %.6f %.6f %.6f %.6f %.6f %d\n", d.x1, d.y1, d.x2, d.y2, d.score, static_cast<int>(d.class_id));
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  return 0;
}
