// The one pybind11 file: numpy arrays in and out for the CPU ops, raw device pointers (ints) for the CUDA
// ops, argument checks with clear ValueError messages, and the GIL released around the work.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "yolov6_edge/decode.h"
#include "yolov6_edge/device.h"
#include "yolov6_edge/letterbox.h"
#include "yolov6_edge/nms.h"
#include "yolov6_edge/version.h"

namespace py = pybind11;
using namespace yolov6_edge;

namespace {

std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

// An HxWx3 uint8 image whose pixels are packed (rows may be padded, as in a crop of a larger image).
ImageView image_view(const py::array& a, size_t index) {
  const std::string what = "letterbox: image " + std::to_string(index);
  if (a.dtype().kind() != 'u' || a.itemsize() != 1)
    throw py::value_error(what + " has dtype " + std::string(py::str(a.dtype())) + ", expected uint8");
  if (a.ndim() != 3 || a.shape(2) != 3)
    throw py::value_error(what + " has shape " + shape_str(a) + ", expected (H, W, 3) BGR");
  if (a.shape(0) < 1 || a.shape(1) < 1) throw py::value_error(what + " is empty: shape " + shape_str(a));
  if (a.strides(2) != 1 || a.strides(1) != 3 || a.strides(0) < 3 * a.shape(1))
    throw py::value_error(what + " pixels are not packed HWC (strides " + std::to_string(a.strides(0)) + ", " +
                          std::to_string(a.strides(1)) + ", " + std::to_string(a.strides(2)) +
                          "); pass np.ascontiguousarray(image)");
  return {static_cast<const std::uint8_t*>(a.data()), static_cast<int>(a.shape(0)), static_cast<int>(a.shape(1)),
          a.strides(0)};
}

void check_size(int h, int w) {
  if (h < 1 || w < 1)
    throw py::value_error("letterbox: size must be positive, got (" + std::to_string(h) + ", " + std::to_string(w) + ")");
}

py::array params_array(const std::vector<LetterboxParams>& params) {
  py::array_t<float> out({static_cast<py::ssize_t>(params.size()), py::ssize_t{3}});
  auto v = out.mutable_unchecked<2>();
  for (size_t i = 0; i < params.size(); ++i)
    v(i, 0) = params[i].scale, v(i, 1) = params[i].pad_left, v(i, 2) = params[i].pad_top;
  return out;
}

py::tuple letterbox_py(const std::vector<py::array>& images, int h, int w, bool center, bool half, int threads) {
  check_size(h, w);
  std::vector<ImageView> views;
  for (size_t i = 0; i < images.size(); ++i) views.push_back(image_view(images[i], i));
  const py::ssize_t b = static_cast<py::ssize_t>(views.size());
  py::array blob = half ? py::array(py::dtype("float16"), {b, py::ssize_t{3}, py::ssize_t{h}, py::ssize_t{w}})
                        : py::array(py::dtype("float32"), {b, py::ssize_t{3}, py::ssize_t{h}, py::ssize_t{w}});
  std::vector<LetterboxParams> params(views.size());
  void* out = blob.mutable_data();
  {
    py::gil_scoped_release release;
    letterbox_cpu(views.data(), static_cast<int>(b), h, w, center, half ? OutputType::kFloat16 : OutputType::kFloat32,
                  out, params.data(), threads);
  }
  return py::make_tuple(blob, params_array(params));
}

const float* float_array(const py::array& a, const char* name, int ndim, const char* expected) {
  if (a.dtype().kind() != 'f' || a.itemsize() != 4)
    throw py::value_error(std::string("batched_nms: ") + name + " has dtype " + std::string(py::str(a.dtype())) +
                          ", expected float32");
  if (a.ndim() != ndim)
    throw py::value_error(std::string("batched_nms: ") + name + " has shape " + shape_str(a) + ", expected " + expected);
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string("batched_nms: ") + name + " is not C-contiguous; pass np.ascontiguousarray()");
  return static_cast<const float*>(a.data());
}

NmsOptions nms_options(float conf, float iou, int max_det, bool multi_label, bool agnostic, int max_candidates) {
  NmsOptions o;
  o.conf_thres = conf, o.iou_thres = iou, o.max_det = max_det;
  o.multi_label = multi_label, o.agnostic = agnostic, o.max_candidates = max_candidates;
  return o;
}

py::list batched_nms_py(const py::array& boxes, const py::array& scores, float conf, float iou, int max_det,
                        bool multi_label, bool agnostic, int max_candidates, int threads) {
  const float* bp = float_array(boxes, "boxes", 3, "[B, N, 4]");
  const float* sp = float_array(scores, "scores", 3, "[B, N, C]");
  if (boxes.shape(2) != 4) throw py::value_error("batched_nms: boxes has shape " + shape_str(boxes) + ", expected [B, N, 4]");
  if (scores.shape(0) != boxes.shape(0) || scores.shape(1) != boxes.shape(1))
    throw py::value_error("batched_nms: boxes " + shape_str(boxes) + " and scores " + shape_str(scores) +
                          " disagree on B or N");
  NmsOptions o = nms_options(conf, iou, max_det, multi_label, agnostic, max_candidates);
  try {
    check_nms_args(scores.shape(0), scores.shape(1), scores.shape(2), o);
  } catch (const std::invalid_argument& e) {
    throw py::value_error(e.what());
  }
  std::vector<std::vector<Detection>> dets;
  {
    py::gil_scoped_release release;
    dets = batched_nms_cpu(bp, sp, static_cast<int>(scores.shape(0)), static_cast<int>(scores.shape(1)),
                           static_cast<int>(scores.shape(2)), o, threads);
  }
  py::list out;
  for (const auto& d : dets) {
    py::array_t<float> a({static_cast<py::ssize_t>(d.size()), py::ssize_t{6}});
    if (!d.empty()) std::memcpy(a.mutable_data(), d.data(), d.size() * sizeof(Detection));
    out.append(a);
  }
  return out;
}

py::array decode_boxes_py(const py::array& reg, const py::array& anchors, const py::array& strides, int reg_max) {
  auto check = [](const py::array& a, const char* name) {
    if (a.dtype().kind() != 'f' || a.itemsize() != 4 || !(a.flags() & py::array::c_style))
      throw py::value_error(std::string("decode_boxes: ") + name + " must be a C-contiguous float32 array");
  };
  check(reg, "reg"), check(anchors, "anchors"), check(strides, "strides");
  if (reg_max < 0) throw py::value_error("decode_boxes: reg_max must be >= 0");
  const py::ssize_t width = reg_max > 0 ? 4 * (reg_max + 1) : 4;
  if (reg.ndim() != 3 || reg.shape(2) != width)
    throw py::value_error("decode_boxes: reg has shape " + shape_str(reg) + ", expected [B, N, " + std::to_string(width) + "]");
  const py::ssize_t n = reg.shape(1);
  if (anchors.ndim() != 2 || anchors.shape(0) != n || anchors.shape(1) != 2)
    throw py::value_error("decode_boxes: anchors has shape " + shape_str(anchors) + ", expected [" + std::to_string(n) + ", 2]");
  if (strides.size() != n)
    throw py::value_error("decode_boxes: strides has " + std::to_string(strides.size()) + " values, expected " + std::to_string(n));
  py::array_t<float> out({reg.shape(0), n, py::ssize_t{4}});
  const float *r = static_cast<const float*>(reg.data()), *a = static_cast<const float*>(anchors.data()),
              *s = static_cast<const float*>(strides.data());
  float* o = out.mutable_data();
  {
    py::gil_scoped_release release;
    decode_boxes_cpu(r, a, s, static_cast<int>(reg.shape(0)), static_cast<int>(n), reg_max, o);
  }
  return out;
}

// CUDA entry points take integer device pointers; yolov6_edge/ops.py turns __cuda_array_interface__ objects
// into these and checks their shapes and dtypes.
py::array letterbox_cuda_py(const std::vector<std::uintptr_t>& ptrs, const std::vector<std::array<std::int64_t, 3>>& shapes,
                            std::uintptr_t out, int h, int w, bool center, bool half, std::uintptr_t stream) {
  check_size(h, w);
  if (ptrs.size() != shapes.size()) throw py::value_error("letterbox_cuda: one (height, width, row_stride) per pointer");
  std::vector<ImageView> views(ptrs.size());
  for (size_t i = 0; i < ptrs.size(); ++i)
    views[i] = {reinterpret_cast<const std::uint8_t*>(ptrs[i]), static_cast<int>(shapes[i][0]),
                static_cast<int>(shapes[i][1]), shapes[i][2]};
  std::vector<LetterboxParams> params(views.size());
  {
    py::gil_scoped_release release;
    letterbox_cuda(views.data(), static_cast<int>(views.size()), h, w, center,
                   half ? OutputType::kFloat16 : OutputType::kFloat32, reinterpret_cast<void*>(out), params.data(),
                   reinterpret_cast<void*>(stream));
  }
  return params_array(params);
}

void batched_nms_cuda_py(std::uintptr_t boxes, std::uintptr_t scores, int b, int n, int c, float conf, float iou,
                         int max_det, bool multi_label, bool agnostic, int max_candidates, std::uintptr_t out,
                         std::uintptr_t counts, std::uintptr_t stream) {
  NmsOptions o = nms_options(conf, iou, max_det, multi_label, agnostic, max_candidates);
  try {
    check_nms_args(b, n, c, o);
  } catch (const std::invalid_argument& e) {
    throw py::value_error(e.what());
  }
  py::gil_scoped_release release;
  batched_nms_cuda(reinterpret_cast<const float*>(boxes), reinterpret_cast<const float*>(scores), b, n, c, o,
                   reinterpret_cast<float*>(out), reinterpret_cast<std::int32_t*>(counts), reinterpret_cast<void*>(stream));
}

void decode_boxes_cuda_py(std::uintptr_t reg, std::uintptr_t anchors, std::uintptr_t strides, int b, int n, int reg_max,
                          std::uintptr_t out, std::uintptr_t stream) {
  py::gil_scoped_release release;
  decode_boxes_cuda(reinterpret_cast<const float*>(reg), reinterpret_cast<const float*>(anchors),
                    reinterpret_cast<const float*>(strides), b, n, reg_max, reinterpret_cast<float*>(out),
                    reinterpret_cast<void*>(stream));
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "yolov6_edge native ops (letterbox, batched NMS, box decoding) on CPU and CUDA";
  m.attr("__version__") = YOLOV6_EDGE_VERSION_STRING;
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const std::invalid_argument& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });
  m.def("cuda_built", &cuda_built, "True when the CUDA kernels were compiled in.");
  m.def("cuda_available", &cuda_available, "True when CUDA was compiled in and a device is usable now.");
  m.def("letterbox", &letterbox_py, py::arg("images"), py::arg("height"), py::arg("width"), py::arg("center") = true,
        py::arg("half") = false, py::arg("threads") = 0);
  m.def("batched_nms", &batched_nms_py, py::arg("boxes"), py::arg("scores"), py::arg("conf_thres") = 0.25f,
        py::arg("iou_thres") = 0.45f, py::arg("max_det") = 300, py::arg("multi_label") = false,
        py::arg("agnostic") = false, py::arg("max_candidates") = 30000, py::arg("threads") = 0);
  m.def("decode_boxes", &decode_boxes_py, py::arg("reg"), py::arg("anchors"), py::arg("strides"), py::arg("reg_max"));
  m.def("letterbox_cuda", &letterbox_cuda_py, py::arg("ptrs"), py::arg("shapes"), py::arg("out"), py::arg("height"),
        py::arg("width"), py::arg("center") = true, py::arg("half") = false, py::arg("stream") = 0);
  m.def("batched_nms_cuda", &batched_nms_cuda_py, py::arg("boxes"), py::arg("scores"), py::arg("batch"),
        py::arg("num_boxes"), py::arg("num_classes"), py::arg("conf_thres"), py::arg("iou_thres"), py::arg("max_det"),
        py::arg("multi_label"), py::arg("agnostic"), py::arg("max_candidates"), py::arg("out"), py::arg("counts"),
        py::arg("stream") = 0);
  m.def("decode_boxes_cuda", &decode_boxes_cuda_py, py::arg("reg"), py::arg("anchors"), py::arg("strides"),
        py::arg("batch"), py::arg("num_anchors"), py::arg("reg_max"), py::arg("out"), py::arg("stream") = 0);
}
