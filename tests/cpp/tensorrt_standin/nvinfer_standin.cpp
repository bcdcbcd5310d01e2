// Stand-in for libnvinfer (tests only): the one exported entry point the Detector links against. It makes no
// runtime, so a Detector built against it fails, naming the engine file, once past its file and device checks.
#include "NvInfer.h"

extern "C" __attribute__((visibility("default"))) void* createInferRuntime_INTERNAL(void*, int32_t) noexcept {
  return nullptr;
}
