// Reading an image file into packed 8-bit BGR rows (the layout yolov6_edge::ImageView takes, OpenCV's order).
// JPEG through libjpeg and PNG through libpng where the example was built with them; binary PPM (P6) always.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

struct BgrImage {
  int width = 0, height = 0;
  std::vector<std::uint8_t> bgr;  // height rows of width * 3 bytes
};

// Throws std::runtime_error naming the file: missing, unreadable, corrupt, or a format this build cannot read.
BgrImage read_image(const std::string& path);

// Which formats this build reads, for the usage text: e.g. "JPEG, PNG, PPM".
std::string readable_formats();
