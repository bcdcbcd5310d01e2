// Build and run-time CUDA availability. cudart is linked statically, so on a machine without a driver
// cudaGetDeviceCount returns an error code instead of the module failing to load.
#include "yolov6_edge/device.h"

#ifdef YOLOV6_EDGE_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace yolov6_edge {

bool cuda_built() {
#ifdef YOLOV6_EDGE_WITH_CUDA
  return true;
#else
  return false;
#endif
}

bool cuda_available() {
#ifdef YOLOV6_EDGE_WITH_CUDA
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls are not poisoned by this probe
    return false;
  }
  return count > 0;
#else
  return false;
#endif
}

}  // namespace yolov6_edge
