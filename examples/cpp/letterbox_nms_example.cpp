// Letterbox a binary PPM (P6) image and run batched NMS on candidate detections read from a text file,
// the two steps around an engine call in a C++ detector.
//
//   letterbox_nms_example image.ppm H W candidates.txt
//
// candidates.txt: first line "N C", then N lines "x1 y1 x2 y2 s_0 ... s_{C-1}" (boxes in letterbox pixels).
// Prints the letterbox parameters, the per-channel mean of the input blob, and the kept detections mapped
// back to the original image, one per line.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "yolov6_edge/letterbox.h"
#include "yolov6_edge/nms.h"
#include "yolov6_edge/version.h"

namespace {

struct Ppm {
  int width = 0, height = 0;
  std::vector<std::uint8_t> bgr;
};

// PPM stores RGB; the library takes BGR (OpenCV's order), so swap on reading.
Ppm read_ppm(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error(path + ": cannot open");
  std::string magic;
  int maxval = 0;
  Ppm im;
  f >> magic >> im.width >> im.height >> maxval;
  if (magic != "P6" || maxval != 255 || im.width < 1 || im.height < 1)
    throw std::runtime_error(path + ": not a binary 8-bit PPM (P6)");
  f.get();
  im.bgr.resize(static_cast<size_t>(im.width) * im.height * 3);
  if (!f.read(reinterpret_cast<char*>(im.bgr.data()), static_cast<std::streamsize>(im.bgr.size())))
    throw std::runtime_error(path + ": truncated pixel data");
  for (size_t i = 0; i < im.bgr.size(); i += 3) std::swap(im.bgr[i], im.bgr[i + 2]);
  return im;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: " << argv[0] << " image.ppm H W candidates.txt\n";
    return 2;
  }
  try {
    const Ppm im = read_ppm(argv[1]);
    const int h = std::stoi(argv[2]), w = std::stoi(argv[3]);
    yolov6_edge::ImageView view{im.bgr.data(), im.height, im.width, static_cast<std::int64_t>(im.width) * 3};
    std::vector<float> blob(3 * static_cast<size_t>(h) * w);
    yolov6_edge::LetterboxParams p;
    yolov6_edge::letterbox_cpu(&view, 1, h, w, true, yolov6_edge::OutputType::kFloat32, blob.data(), &p);
    std::printf("version %s\n", YOLOV6_EDGE_VERSION_STRING);
    std::printf("params %.9g %.9g %.9g\n", p.scale, p.pad_left, p.pad_top);
    const size_t plane = static_cast<size_t>(h) * w;
    double mean[3] = {0, 0, 0};
    for (int c = 0; c < 3; ++c) {
      for (size_t i = 0; i < plane; ++i) mean[c] += blob[c * plane + i];
      mean[c] /= static_cast<double>(plane);
    }
    std::printf("mean %.9g %.9g %.9g\n", mean[0], mean[1], mean[2]);

    std::ifstream cf(argv[4]);
    int n = 0, c = 0;
    if (!(cf >> n >> c) || n < 0 || c < 0) throw std::runtime_error(std::string(argv[4]) + ": bad header, expected 'N C'");
    std::vector<float> boxes(static_cast<size_t>(n) * 4), scores(static_cast<size_t>(n) * c);
    for (int i = 0; i < n; ++i) {
      for (int k = 0; k < 4; ++k) cf >> boxes[i * 4 + k];
      for (int k = 0; k < c; ++k) cf >> scores[static_cast<size_t>(i) * c + k];
    }
    if (!cf) throw std::runtime_error(std::string(argv[4]) + ": fewer values than N * (4 + C)");
    yolov6_edge::NmsOptions opt;
    auto dets = yolov6_edge::batched_nms_cpu(boxes.data(), scores.data(), 1, n, c, opt)[0];
    std::printf("detections %zu\n", dets.size());
    for (const auto& d : dets)
      std::printf("det %.6g %.6g %.6g %.6g %.6g %d\n", (d.x1 - p.pad_left) / p.scale, (d.y1 - p.pad_top) / p.scale,
                  (d.x2 - p.pad_left) / p.scale, (d.y2 - p.pad_top) / p.scale, d.score, static_cast<int>(d.class_id));
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  return 0;
}
