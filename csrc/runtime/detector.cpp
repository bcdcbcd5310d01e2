// yolov6_edge::Detector on TensorRT 10.x/11.x: name-based I/O tensors (setTensorAddress + enqueueV3), one
// optimization profile, one stream; buffers sized once for the engine's max batch.
// Written from the TensorRT 10/11 C++ API documentation; it has not been compiled against TensorRT here
// (docs/TENSORRT.md says what has and has not run).
#include "yolov6_edge/detector.h"

#include <NvInfer.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <utility>

namespace yolov6_edge {
namespace {

void check_cuda(cudaError_t rc, const char* what) {
  if (rc != cudaSuccess)
    throw std::runtime_error(std::string("yolov6_edge::Detector: ") + what + ": " + cudaGetErrorString(rc));
}

class Logger : public nvinfer1::ILogger {
 public:
  void log(Severity severity, const char* msg) noexcept override {
    if (severity <= Severity::kWARNING) std::fprintf(stderr, "TensorRT: %s\n", msg);
  }
};

// Device or pinned host memory released by its own deleter.
struct DeviceBuffer {
  void* ptr = nullptr;
  size_t bytes = 0;
  void reset(size_t n) {
    release();
    check_cuda(cudaMalloc(&ptr, n), "cudaMalloc");
    bytes = n;
  }
  void release() {
    if (ptr) cudaFree(ptr);
    ptr = nullptr;
    bytes = 0;
  }
  ~DeviceBuffer() { release(); }
};

struct PinnedBuffer {
  void* ptr = nullptr;
  size_t bytes = 0;
  void reset(size_t n) {
    release();
    check_cuda(cudaMallocHost(&ptr, n), "cudaMallocHost");
    bytes = n;
  }
  void release() {
    if (ptr) cudaFreeHost(ptr);
    ptr = nullptr;
    bytes = 0;
  }
  ~PinnedBuffer() { release(); }
};

nvinfer1::Dims dims4(int64_t b, int64_t c, int64_t h, int64_t w) {
  nvinfer1::Dims d{};
  d.nbDims = 4;
  d.d[0] = b;
  d.d[1] = c;
  d.d[2] = h;
  d.d[3] = w;
  return d;
}

}  // namespace

struct Detector::Impl {
  std::string path;
  DetectorOptions options;
  Logger logger;
  // Destruction order matters: context before engine before runtime (members die in reverse order).
  std::unique_ptr<nvinfer1::IRuntime> runtime;
  std::unique_ptr<nvinfer1::ICudaEngine> engine;
  std::unique_ptr<nvinfer1::IExecutionContext> context;
  cudaStream_t stream = nullptr;
  int height = 0, width = 0, max_batch = 0, num_boxes = 0, num_classes = 0, bound_batch = -1;
  OutputType input_type = OutputType::kFloat32;
  DeviceBuffer input, boxes, scores, nms_out, nms_counts, images;
  PinnedBuffer host_images, host_out, host_counts;

  [[noreturn]] void fail(const std::string& problem) const {
    throw std::runtime_error(path + ": " + problem);
  }

  void load() {
    // The file first: a missing or empty engine must say so, not report a CUDA driver error on a machine
    // without a GPU.
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) fail("is a folder, not an engine file");
    std::ifstream f(path, std::ios::binary);
    if (!f) fail("cannot open the engine file (no such file, or not readable)");
    std::vector<char> plan((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (plan.empty()) fail("the engine file is empty");
    const cudaError_t rc = cudaSetDevice(options.device);
    if (rc != cudaSuccess)
      fail("needs a usable NVIDIA GPU and driver (cudaSetDevice(" + std::to_string(options.device) +
           "): " + cudaGetErrorString(rc) + ")");

    runtime.reset(nvinfer1::createInferRuntime(logger));
    if (!runtime) fail("TensorRT could not create a runtime");
    engine.reset(runtime->deserializeCudaEngine(plan.data(), plan.size()));
    if (!engine)
      fail("TensorRT could not deserialize it (built by another TensorRT version or for another GPU?); rebuild "
           "it here with `yolov6-edge build MODEL.onnx -o ENGINE` (the command is in ENGINE.json)");
    context.reset(engine->createExecutionContext());
    if (!context) fail("TensorRT could not create an execution context");

    bool has_images = false, has_boxes = false, has_scores = false;
    for (int32_t i = 0; i < engine->getNbIOTensors(); ++i) {
      const std::string name = engine->getIOTensorName(i);
      has_images |= name == "images";
      has_boxes |= name == "boxes";
      has_scores |= name == "scores";
    }
    if (!has_images || !has_boxes || !has_scores)
      fail("expected tensors images, boxes and scores (end-to-end engines are not supported by the C++ Detector)");
    if (engine->getTensorDataType("boxes") != nvinfer1::DataType::kFLOAT ||
        engine->getTensorDataType("scores") != nvinfer1::DataType::kFLOAT)
      fail("boxes and scores must be float32 (yolov6-edge keeps FP16/INT8 engine outputs float32)");
    const auto in_type = engine->getTensorDataType("images");
    if (in_type == nvinfer1::DataType::kHALF) {
      input_type = OutputType::kFloat16;
    } else if (in_type != nvinfer1::DataType::kFLOAT) {
      fail("input images must be float32 or float16");
    }

    const nvinfer1::Dims max_in = engine->getProfileShape("images", 0, nvinfer1::OptProfileSelector::kMAX);
    if (max_in.nbDims != 4 || max_in.d[1] != 3) fail("input images must be [B, 3, H, W]");
    max_batch = static_cast<int>(max_in.d[0]);
    height = static_cast<int>(max_in.d[2]);
    width = static_cast<int>(max_in.d[3]);

    check_cuda(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
    set_batch(max_batch);
    const nvinfer1::Dims b = context->getTensorShape("boxes");
    const nvinfer1::Dims s = context->getTensorShape("scores");
    if (b.nbDims != 3 || b.d[2] != 4 || s.nbDims != 3 || s.d[1] != b.d[1]) fail("unexpected boxes/scores shapes");
    num_boxes = static_cast<int>(b.d[1]);
    num_classes = static_cast<int>(s.d[2]);

    const size_t in_elem = input_type == OutputType::kFloat16 ? 2 : 4;
    const size_t mb = static_cast<size_t>(max_batch);
    input.reset(mb * 3 * height * width * in_elem);
    boxes.reset(mb * num_boxes * 4 * sizeof(float));
    scores.reset(mb * num_boxes * num_classes * sizeof(float));
    nms_out.reset(mb * options.nms.max_det * 6 * sizeof(float));
    nms_counts.reset(mb * sizeof(int32_t));
    host_out.reset(nms_out.bytes);
    host_counts.reset(nms_counts.bytes);
    if (!context->setTensorAddress("images", input.ptr) || !context->setTensorAddress("boxes", boxes.ptr) ||
        !context->setTensorAddress("scores", scores.ptr))
      fail("TensorRT refused a tensor address");
  }

  void set_batch(int n) {
    if (n == bound_batch) return;
    if (!context->setInputShape("images", dims4(n, 3, height, width)))
      fail("TensorRT refused batch " + std::to_string(n));
    bound_batch = n;
  }

  std::vector<std::vector<Detection>> run(const ImageView* views, int n) {
    // Upload the raw images (packed rows) through one pinned buffer, then letterbox on the device.
    size_t total = 0;
    for (int i = 0; i < n; ++i) {
      if (!views[i].data || views[i].height < 1 || views[i].width < 1 || views[i].row_stride < views[i].width * 3)
        fail("image " + std::to_string(i) + " is empty or has a row stride below width * 3");
      total += static_cast<size_t>(views[i].height) * views[i].width * 3;
    }
    if (total > images.bytes) {
      images.reset(total);
      host_images.reset(total);
    }
    std::vector<ImageView> device_views(n);
    size_t offset = 0;
    for (int i = 0; i < n; ++i) {
      const size_t row = static_cast<size_t>(views[i].width) * 3;
      auto* dst = static_cast<std::uint8_t*>(host_images.ptr) + offset;
      for (int y = 0; y < views[i].height; ++y)
        std::memcpy(dst + y * row, views[i].data + y * views[i].row_stride, row);
      device_views[i] = {static_cast<std::uint8_t*>(images.ptr) + offset, views[i].height, views[i].width,
                         static_cast<std::int64_t>(row)};
      offset += row * views[i].height;
    }
    check_cuda(cudaMemcpyAsync(images.ptr, host_images.ptr, total, cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync");
    std::vector<LetterboxParams> params(n);
    letterbox_cuda(device_views.data(), n, height, width, options.center, input_type, input.ptr, params.data(), stream);

    set_batch(n);
    if (!context->enqueueV3(stream)) fail("TensorRT enqueueV3 failed (see the TensorRT log)");
    batched_nms_cuda(static_cast<const float*>(boxes.ptr), static_cast<const float*>(scores.ptr), n, num_boxes,
                     num_classes, options.nms, static_cast<float*>(nms_out.ptr),
                     static_cast<std::int32_t*>(nms_counts.ptr), stream);
    const size_t det_bytes = static_cast<size_t>(n) * options.nms.max_det * 6 * sizeof(float);
    check_cuda(cudaMemcpyAsync(host_out.ptr, nms_out.ptr, det_bytes, cudaMemcpyDeviceToHost, stream),
               "cudaMemcpyAsync");
    check_cuda(cudaMemcpyAsync(host_counts.ptr, nms_counts.ptr, n * sizeof(std::int32_t), cudaMemcpyDeviceToHost,
                               stream),
               "cudaMemcpyAsync");
    check_cuda(cudaStreamSynchronize(stream), "cudaStreamSynchronize");

    std::vector<std::vector<Detection>> out(n);
    const auto* rows = static_cast<const float*>(host_out.ptr);
    const auto* counts = static_cast<const std::int32_t*>(host_counts.ptr);
    for (int i = 0; i < n; ++i) {
      const LetterboxParams& p = params[i];
      const float w = static_cast<float>(views[i].width), h = static_cast<float>(views[i].height);
      const int k = std::min(counts[i], options.nms.max_det);
      out[i].reserve(k);
      for (int j = 0; j < k; ++j) {
        const float* r = rows + (static_cast<size_t>(i) * options.nms.max_det + j) * 6;
        // Back to the original image: undo the padding, then the scale; clip to the image.
        auto x = [&](float v) { return std::clamp((v - p.pad_left) / p.scale, 0.f, w); };
        auto y = [&](float v) { return std::clamp((v - p.pad_top) / p.scale, 0.f, h); };
        out[i].push_back({x(r[0]), y(r[1]), x(r[2]), y(r[3]), r[4], r[5]});
      }
    }
    return out;
  }

  ~Impl() {
    if (stream) cudaStreamSynchronize(stream);
    context.reset();
    engine.reset();
    runtime.reset();
    if (stream) cudaStreamDestroy(stream);
  }
};

Detector::Detector(const std::string& engine_path, const DetectorOptions& options) : impl_(new Impl) {
  impl_->path = engine_path;
  impl_->options = options;
  if (options.nms.max_det < 1) throw std::invalid_argument("yolov6_edge::Detector: nms.max_det must be >= 1");
  impl_->load();
}

Detector::~Detector() = default;
Detector::Detector(Detector&&) noexcept = default;
Detector& Detector::operator=(Detector&&) noexcept = default;

std::vector<Detection> Detector::operator()(const ImageView& image) { return impl_->run(&image, 1).front(); }

std::vector<std::vector<Detection>> Detector::operator()(const std::vector<ImageView>& images) {
  std::vector<std::vector<Detection>> out;
  out.reserve(images.size());
  for (size_t start = 0; start < images.size(); start += impl_->max_batch) {
    const int n = static_cast<int>(std::min(images.size() - start, static_cast<size_t>(impl_->max_batch)));
    auto part = impl_->run(images.data() + start, n);
    std::move(part.begin(), part.end(), std::back_inserter(out));
  }
  return out;
}

int Detector::input_height() const { return impl_->height; }
int Detector::input_width() const { return impl_->width; }
int Detector::max_batch() const { return impl_->max_batch; }
int Detector::num_classes() const { return impl_->num_classes; }

}  // namespace yolov6_edge
