// What the build and the machine offer: whether CUDA code was compiled in and whether a device is usable.
#pragma once

#include "yolov6_edge/export.h"

namespace yolov6_edge {

// True when the library was compiled with its CUDA kernels.
YOLOV6_EDGE_API bool cuda_built();

// True when CUDA was compiled in and at least one device can be used now (a driver and a GPU are present).
// cudart is linked statically, so this answers false rather than failing on machines without a driver.
YOLOV6_EDGE_API bool cuda_available();

}  // namespace yolov6_edge
