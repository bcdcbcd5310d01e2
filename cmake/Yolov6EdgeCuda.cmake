# Decides whether the CUDA kernels are built, from YOLOV6_EDGE_CUDA = AUTO | ON | OFF, and says why.
# Sets YOLOV6_EDGE_WITH_CUDA. cudart is linked statically so the library (and the Python module) loads on
# machines without a GPU driver; cuda_available() then reports false at run time.
set(YOLOV6_EDGE_WITH_CUDA OFF)
string(TOUPPER "${YOLOV6_EDGE_CUDA}" _y6_cuda)
if(_y6_cuda STREQUAL "OFF")
  message(STATUS "yolov6_edge: CUDA disabled (YOLOV6_EDGE_CUDA=OFF)")
elseif(_y6_cuda STREQUAL "AUTO" OR _y6_cuda STREQUAL "ON")
  # JetPack and the CUDA containers install nvcc in /usr/local/cuda/bin without putting it on PATH, and
  # check_language() only searches PATH: look where CUDA installs before deciding there is none.
  set(_y6_cuda_looked "PATH")
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX})
    set(_y6_cuda_hints "")
    foreach(_var CUDA_HOME CUDA_PATH CUDA_ROOT CUDAToolkit_ROOT)
      if(DEFINED ENV{${_var}} AND NOT "$ENV{${_var}}" STREQUAL "")
        list(APPEND _y6_cuda_hints "$ENV{${_var}}/bin")
      endif()
    endforeach()
    list(APPEND _y6_cuda_hints /usr/local/cuda/bin /opt/cuda/bin)
    string(REPLACE ";" ", " _y6_cuda_looked "PATH;${_y6_cuda_hints}")
    find_program(_y6_nvcc nvcc PATHS ${_y6_cuda_hints})
    if(_y6_nvcc)
      set(CMAKE_CUDA_COMPILER "${_y6_nvcc}" CACHE FILEPATH "CUDA compiler (found by yolov6_edge)")
      message(STATUS "yolov6_edge: nvcc: ${_y6_nvcc}")
    endif()
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      # T4 (sm_75), A100 (sm_80) and H100 (sm_90) as machine code; the last also as PTX for newer GPUs.
      set(CMAKE_CUDA_ARCHITECTURES "75-real;80-real;90")
    endif()
    set(CMAKE_CUDA_RUNTIME_LIBRARY Static)
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(YOLOV6_EDGE_WITH_CUDA ON)
    message(STATUS "yolov6_edge: CUDA found: ${CMAKE_CUDA_COMPILER} ${CMAKE_CUDA_COMPILER_VERSION}, "
                   "architectures ${CMAKE_CUDA_ARCHITECTURES}, static cudart")
  elseif(_y6_cuda STREQUAL "ON")
    message(FATAL_ERROR "yolov6_edge: YOLOV6_EDGE_CUDA=ON but no CUDA compiler was found in ${_y6_cuda_looked} "
                        "(set CUDA_HOME or CMAKE_CUDA_COMPILER)")
  else()
    message(STATUS "yolov6_edge: no CUDA compiler found in ${_y6_cuda_looked}: building the CPU ops only "
                   "(set CUDA_HOME or CMAKE_CUDA_COMPILER to build the CUDA kernels)")
  endif()
else()
  message(FATAL_ERROR "yolov6_edge: YOLOV6_EDGE_CUDA must be AUTO, ON or OFF, got '${YOLOV6_EDGE_CUDA}'")
endif()
