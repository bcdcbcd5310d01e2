// Stand-in for TensorRT's NvInfer.h (tests only; TensorRT cannot be installed on our test machines).
// It declares only what csrc/runtime/detector.cpp calls, with the TensorRT 10.x/11.x signatures, so the
// Detector compiles and links here and the CMake package that exports it can be consumed. It has no
// implementation: libnvinfer's stand-in (nvinfer_standin.cpp) makes no runtime, so nothing past the engine
// file and device checks can run against it.
#pragma once
#include <cstddef>
#include <cstdint>

#include "NvInferVersion.h"

namespace nvinfer1 {

enum class DataType : int32_t { kFLOAT = 0, kHALF = 1, kINT8 = 2, kINT32 = 3, kBOOL = 4 };
enum class OptProfileSelector : int32_t { kMIN = 0, kOPT = 1, kMAX = 2 };

class Dims64 {
 public:
  static constexpr int32_t MAX_DIMS{8};
  int32_t nbDims;
  int64_t d[MAX_DIMS];
};
using Dims = Dims64;

class ILogger {
 public:
  enum class Severity : int32_t { kINTERNAL_ERROR = 0, kERROR = 1, kWARNING = 2, kINFO = 3, kVERBOSE = 4 };
  virtual void log(Severity severity, const char* msg) noexcept = 0;
  ILogger() = default;
  virtual ~ILogger() = default;
};

class IExecutionContext {
 public:
  virtual ~IExecutionContext() noexcept = default;
  virtual bool setTensorAddress(const char* tensorName, void* data) noexcept = 0;
  virtual bool setInputShape(const char* tensorName, const Dims& dims) noexcept = 0;
  virtual Dims getTensorShape(const char* tensorName) const noexcept = 0;
  virtual bool enqueueV3(void* stream) noexcept = 0;  // cudaStream_t in the real header
};

class ICudaEngine {
 public:
  virtual ~ICudaEngine() noexcept = default;
  virtual IExecutionContext* createExecutionContext() noexcept = 0;
  virtual int32_t getNbIOTensors() const noexcept = 0;
  virtual const char* getIOTensorName(int32_t index) const noexcept = 0;
  virtual DataType getTensorDataType(const char* tensorName) const noexcept = 0;
  virtual Dims getProfileShape(const char* tensorName, int32_t profileIndex, OptProfileSelector select) const
      noexcept = 0;
};

class IRuntime {
 public:
  virtual ~IRuntime() noexcept = default;
  virtual ICudaEngine* deserializeCudaEngine(const void* blob, std::size_t size) noexcept = 0;
};

}  // namespace nvinfer1

extern "C" void* createInferRuntime_INTERNAL(void* logger, int32_t version) noexcept;

namespace nvinfer1 {
inline IRuntime* createInferRuntime(ILogger& logger) noexcept {
  return static_cast<IRuntime*>(createInferRuntime_INTERNAL(&logger, NV_TENSORRT_VERSION));
}
}  // namespace nvinfer1
