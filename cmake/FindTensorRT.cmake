# FindTensorRT: TensorRT 10.x / 11.x headers and libnvinfer.
#
# Looks in TensorRT_ROOT (CMake or environment variable: an extracted TensorRT tarball), then the system
# paths (Debian/JetPack packages put NvInfer.h under /usr/include/<arch>-linux-gnu).
# Sets TensorRT_FOUND, TensorRT_VERSION, TensorRT_INCLUDE_DIRS, TensorRT_LIBRARIES and the imported target
# TensorRT::nvinfer. Versions other than 10.x and 11.x are reported as not found (the runtime uses the
# name-based I/O tensor API and enqueueV3, which 8.x lacks).
find_path(TensorRT_INCLUDE_DIR NvInfer.h
  HINTS ${TensorRT_ROOT} $ENV{TensorRT_ROOT}
  PATH_SUFFIXES include include/${CMAKE_LIBRARY_ARCHITECTURE})
find_library(TensorRT_nvinfer_LIBRARY
  NAMES nvinfer nvinfer_11 nvinfer_10
  HINTS ${TensorRT_ROOT} $ENV{TensorRT_ROOT}
  PATH_SUFFIXES lib lib64 lib/${CMAKE_LIBRARY_ARCHITECTURE})

set(TensorRT_VERSION "")
if(TensorRT_INCLUDE_DIR AND EXISTS "${TensorRT_INCLUDE_DIR}/NvInferVersion.h")
  file(STRINGS "${TensorRT_INCLUDE_DIR}/NvInferVersion.h" _trt_lines
       REGEX "#define (NV_TENSORRT|TRT)_(MAJOR|MINOR|PATCH)(_ENTERPRISE)? +[0-9]+")
  foreach(_part MAJOR MINOR PATCH)
    # 10.x/11.x headers define TRT_<PART>_ENTERPRISE; older ones NV_TENSORRT_<PART> as a plain number.
    string(REGEX MATCH "#define (TRT_${_part}_ENTERPRISE|NV_TENSORRT_${_part}) +([0-9]+)" _m "${_trt_lines}")
    set(_trt_${_part} "${CMAKE_MATCH_2}")
  endforeach()
  if(NOT _trt_MAJOR STREQUAL "")
    set(TensorRT_VERSION "${_trt_MAJOR}.${_trt_MINOR}.${_trt_PATCH}")
  endif()
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(TensorRT
  REQUIRED_VARS TensorRT_nvinfer_LIBRARY TensorRT_INCLUDE_DIR
  VERSION_VAR TensorRT_VERSION)

if(TensorRT_FOUND AND NOT TensorRT_VERSION MATCHES "^1[01]\\.")
  message(STATUS "TensorRT ${TensorRT_VERSION} found at ${TensorRT_INCLUDE_DIR} but only 10.x and 11.x are supported")
  set(TensorRT_FOUND FALSE)
endif()

if(TensorRT_FOUND)
  set(TensorRT_INCLUDE_DIRS ${TensorRT_INCLUDE_DIR})
  set(TensorRT_LIBRARIES ${TensorRT_nvinfer_LIBRARY})
  if(NOT TARGET TensorRT::nvinfer)
    add_library(TensorRT::nvinfer UNKNOWN IMPORTED)
    set_target_properties(TensorRT::nvinfer PROPERTIES
      IMPORTED_LOCATION "${TensorRT_nvinfer_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${TensorRT_INCLUDE_DIR}")
  endif()
endif()
mark_as_advanced(TensorRT_INCLUDE_DIR TensorRT_nvinfer_LIBRARY)
