#include "image_io.h"

#include <csetjmp>
#include <cstdio>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <utility>

#ifdef YOLOV6_EDGE_EXAMPLE_JPEG
#include <jpeglib.h>
#endif
#ifdef YOLOV6_EDGE_EXAMPLE_PNG
#include <png.h>
#endif

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
  throw std::runtime_error(path + ": " + problem);
}

// PPM stores RGB; swap to BGR on reading.
BgrImage read_ppm(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::string magic;
  int maxval = 0;
  BgrImage im;
  f >> magic >> im.width >> im.height >> maxval;
  if (magic != "P6" || maxval != 255 || im.width < 1 || im.height < 1) fail(path, "not a binary 8-bit PPM (P6)");
  f.get();
  im.bgr.resize(static_cast<size_t>(im.width) * im.height * 3);
  if (!f.read(reinterpret_cast<char*>(im.bgr.data()), static_cast<std::streamsize>(im.bgr.size())))
    fail(path, "truncated pixel data");
  for (size_t i = 0; i < im.bgr.size(); i += 3) std::swap(im.bgr[i], im.bgr[i + 2]);
  return im;
}

#ifdef YOLOV6_EDGE_EXAMPLE_JPEG
struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

// libjpeg is C: it cannot unwind a C++ exception, so its error handler jumps back to read_jpeg.
void jpeg_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

BgrImage read_jpeg(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) fail(path, "cannot open");
  jpeg_decompress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_error_exit;
  BgrImage im;  // declared before setjmp so that the jump leaves it in a defined state
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    fail(path, std::string("corrupt JPEG (") + err.message + ")");
  }
  jpeg_create_decompress(&cinfo);
  jpeg_stdio_src(&cinfo, file.get());
  jpeg_read_header(&cinfo, TRUE);
  cinfo.out_color_space = JCS_RGB;  // grayscale and YCbCr both come out as RGB; CMYK is refused below
  jpeg_start_decompress(&cinfo);
  if (cinfo.output_components != 3) {
    jpeg_destroy_decompress(&cinfo);
    fail(path, "unsupported JPEG colour space (CMYK?)");
  }
  im.width = static_cast<int>(cinfo.output_width);
  im.height = static_cast<int>(cinfo.output_height);
  im.bgr.resize(static_cast<size_t>(im.width) * im.height * 3);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = im.bgr.data() + static_cast<size_t>(cinfo.output_scanline) * im.width * 3;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  // Damaged data libjpeg decodes past ("Corrupt JPEG data: N extraneous bytes") is refused, as in Python.
  const long warnings = err.mgr.num_warnings;
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  if (warnings > 0) fail(path, "damaged JPEG data (libjpeg warned while decoding)");
  for (size_t i = 0; i < im.bgr.size(); i += 3) std::swap(im.bgr[i], im.bgr[i + 2]);
  return im;
}
#endif

#ifdef YOLOV6_EDGE_EXAMPLE_PNG
BgrImage read_png(const std::string& path) {
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&png, path.c_str())) fail(path, std::string("corrupt PNG (") + png.message + ")");
  png.format = PNG_FORMAT_BGR;  // alpha is composited onto black; 16-bit samples are reduced to 8
  BgrImage im;
  im.width = static_cast<int>(png.width);
  im.height = static_cast<int>(png.height);
  im.bgr.resize(PNG_IMAGE_SIZE(png));
  if (!png_image_finish_read(&png, nullptr, im.bgr.data(), 0, nullptr)) {
    png_image_free(&png);
    fail(path, std::string("corrupt PNG (") + png.message + ")");
  }
  return im;
}
#endif

}  // namespace

std::string readable_formats() {
  std::string out;
#ifdef YOLOV6_EDGE_EXAMPLE_JPEG
  out += "JPEG, ";
#endif
#ifdef YOLOV6_EDGE_EXAMPLE_PNG
  out += "PNG, ";
#endif
  return out + "PPM (P6)";
}

BgrImage read_image(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(path, "cannot open (no such file, or not readable)");
  unsigned char magic[8] = {0};
  f.read(reinterpret_cast<char*>(magic), sizeof(magic));
  if (f.gcount() == 0) fail(path, "file is empty (zero bytes)");
  f.close();
  if (magic[0] == 0xFF && magic[1] == 0xD8) {
#ifdef YOLOV6_EDGE_EXAMPLE_JPEG
    return read_jpeg(path);
#else
    fail(path, "a JPEG, but this example was built without libjpeg (install libjpeg-dev and rebuild)");
#endif
  }
  if (magic[0] == 0x89 && magic[1] == 'P' && magic[2] == 'N' && magic[3] == 'G') {
#ifdef YOLOV6_EDGE_EXAMPLE_PNG
    return read_png(path);
#else
    fail(path, "a PNG, but this example was built without libpng (install libpng-dev and rebuild)");
#endif
  }
  if (magic[0] == 'P' && magic[1] == '6') return read_ppm(path);
  fail(path, "not an image this example reads (" + readable_formats() + ")");
}
