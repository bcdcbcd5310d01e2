// Library version; CMakeLists.txt reads these three numbers so there is one place to bump it.
#pragma once

#define YOLOV6_EDGE_VERSION_MAJOR 0
#define YOLOV6_EDGE_VERSION_MINOR 1
#define YOLOV6_EDGE_VERSION_PATCH 0
#define YOLOV6_EDGE_VERSION_STRING "0.1.0"
