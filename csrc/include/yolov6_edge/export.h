// Symbol visibility for the public API. The library is compiled with hidden visibility; only the
// functions marked YOLOV6_EDGE_API are exported, and only when it is built as a shared library.
#pragma once

#if defined(YOLOV6_EDGE_SHARED_BUILD) && (defined(__GNUC__) || defined(__clang__))
#define YOLOV6_EDGE_API __attribute__((visibility("default")))
#else
#define YOLOV6_EDGE_API
#endif
