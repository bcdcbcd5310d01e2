"""A recording stand-in for the `tensorrt` Python module and for libcudart, for tests only.

TensorRT cannot be installed on the CI machine (no GPU; the PyPI library wheels download from NVIDIA's index),
so the TensorRT layer is tested against this fake. It mirrors the real API surface of two versions:
API_10 and API_11 below list the public names of TensorRT 10.13.0.35 and 11.4.0.106, read with dir() from
the real `tensorrt-cu11-bindings` / `tensorrt-cu13-bindings` wheels (imported against stub libnvinfer
libraries that only satisfy the loader). Touching a name that the chosen version lacks (num_bindings,
BuilderFlag.INT8 on 11, int8_calibrator, ...) raises RemovedAPI at once, and every call is recorded.

The "GPU" is host memory: FakeGpu implements the cudart functions cuda.py calls (with ctypes arguments) and
the fake engine runs the ONNX it was built from with ONNX Runtime, reading and writing the bound addresses.
So buffer sizes, addresses, shapes, batching and CUDA-graph replay are checked for real; kernels are not.
"""
import ctypes
import enum
import json
import types

import numpy as np
import onnx
import onnxruntime as ort

API_10 = {'classes': {'Builder': ['build_engine_with_config', 'build_serialized_network',
                         'build_serialized_network_to_stream', 'create_builder_config', 'create_network',
                         'create_optimization_profile', 'error_recorder', 'get_plugin_registry', 'gpu_allocator',
                         'is_network_supported', 'logger', 'max_DLA_batch_size', 'max_threads', 'num_DLA_cores',
                         'platform_has_fast_fp16', 'platform_has_fast_int8', 'platform_has_tf32', 'reset'],
             'IBuilderConfig': ['DLA_core', 'add_optimization_profile', 'algorithm_selector',
                                'avg_timing_iterations', 'builder_optimization_level', 'can_run_on_DLA',
                                'clear_flag', 'clear_quantization_flag', 'create_timing_cache',
                                'default_device_type', 'engine_capability', 'flags', 'get_calibration_profile',
                                'get_device_type', 'get_flag', 'get_memory_pool_limit', 'get_preview_feature',
                                'get_quantization_flag', 'get_tactic_sources', 'get_timing_cache',
                                'hardware_compatibility_level', 'int8_calibrator', 'is_device_type_set',
                                'l2_limit_for_tiling', 'max_aux_streams', 'max_num_tactics',
                                'num_optimization_profiles', 'plugins_to_serialize', 'profile_stream',
                                'profiling_verbosity', 'progress_monitor', 'quantization_flags',
                                'remote_auto_tuning_config', 'reset', 'reset_device_type', 'runtime_platform',
                                'set_calibration_profile', 'set_device_type', 'set_flag', 'set_memory_pool_limit',
                                'set_preview_feature', 'set_quantization_flag', 'set_tactic_sources',
                                'set_timing_cache', 'tiling_optimization_level'],
             'ICudaEngine': ['create_engine_inspector', 'create_execution_context',
                             'create_execution_context_without_device_memory', 'create_runtime_config',
                             'create_serialization_config', 'device_memory_size', 'device_memory_size_v2',
                             'engine_capability', 'error_recorder', 'get_device_memory_size_for_profile',
                             'get_device_memory_size_for_profile_v2', 'get_tensor_bytes_per_component',
                             'get_tensor_components_per_element', 'get_tensor_dtype', 'get_tensor_format',
                             'get_tensor_format_desc', 'get_tensor_location', 'get_tensor_mode', 'get_tensor_name',
                             'get_tensor_profile_shape', 'get_tensor_profile_values', 'get_tensor_shape',
                             'get_tensor_vectorized_dim', 'get_weight_streaming_automatic_budget',
                             'hardware_compatibility_level', 'has_implicit_batch_dimension', 'is_debug_tensor',
                             'is_shape_inference_io', 'minimum_weight_streaming_budget', 'name', 'num_aux_streams',
                             'num_io_tensors', 'num_layers', 'num_optimization_profiles', 'profiling_verbosity',
                             'refittable', 'serialize', 'serialize_with_config', 'streamable_weights_size',
                             'tactic_sources', 'weight_streaming_budget', 'weight_streaming_budget_v2',
                             'weight_streaming_scratch_memory_size'],
             'IExecutionContext': ['active_optimization_profile', 'all_binding_shapes_specified',
                                   'all_shape_inputs_specified', 'debug_sync', 'device_memory', 'engine',
                                   'enqueue_emits_profile', 'error_recorder', 'execute_async_v3', 'execute_v2',
                                   'get_debug_listener', 'get_debug_state', 'get_input_consumed_event',
                                   'get_max_output_size', 'get_output_allocator', 'get_runtime_config',
                                   'get_tensor_address', 'get_tensor_shape', 'get_tensor_strides', 'infer_shapes',
                                   'name', 'nvtx_verbosity', 'persistent_cache_limit', 'profiler',
                                   'report_to_profiler', 'set_all_tensors_debug_state', 'set_aux_streams',
                                   'set_debug_listener', 'set_device_memory', 'set_input_consumed_event',
                                   'set_input_shape', 'set_optimization_profile_async', 'set_output_allocator',
                                   'set_tensor_address', 'set_tensor_debug_state', 'temporary_allocator',
                                   'unfused_tensors_debug_state', 'update_device_memory_size_for_shapes'],
             'IHostMemory': ['dtype', 'nbytes'],
             'INetworkDefinition': ['are_weights_marked_refittable', 'builder', 'error_recorder', 'flags',
                                    'get_flag', 'get_input', 'get_layer', 'get_output',
                                    'has_implicit_batch_dimension', 'is_debug_tensor', 'mark_debug', 'mark_output',
                                    'mark_output_for_shapes', 'mark_unfused_tensors_as_debug_tensors',
                                    'mark_weights_refittable', 'name', 'num_inputs', 'num_layers', 'num_outputs',
                                    'remove_tensor', 'set_weights_name', 'unmark_debug', 'unmark_output',
                                    'unmark_output_for_shapes', 'unmark_unfused_tensors_as_debug_tensors',
                                    'unmark_weights_refittable'],
             'IOptimizationProfile': ['extra_memory_target', 'get_shape', 'get_shape_input', 'set_shape',
                                      'set_shape_input'],
             'ITensor': ['allowed_formats', 'broadcast_across_batch', 'dtype', 'dynamic_range',
                         'get_dimension_name', 'is_execution_tensor', 'is_network_input', 'is_network_output',
                         'is_shape_tensor', 'location', 'name', 'reset_dynamic_range', 'set_dimension_name',
                         'set_dynamic_range', 'shape'],
             'ITimingCache': ['combine', 'query', 'queryKeys', 'reset', 'serialize', 'update'],
             'Logger': ['ERROR', 'INFO', 'INTERNAL_ERROR', 'Severity', 'VERBOSE', 'WARNING', 'log', 'min_severity'],
             'OnnxParser': ['clear_errors', 'clear_flag', 'flags', 'get_error', 'get_flag',
                            'get_layer_output_tensor', 'get_subgraph_nodes', 'get_used_vc_plugin_libraries',
                            'is_subgraph_supported', 'load_initializer', 'load_model_proto', 'num_errors',
                            'num_subgraphs', 'parse', 'parse_from_file', 'parse_model_proto',
                            'parse_with_weight_descriptors', 'set_flag', 'supports_model', 'supports_model_v2',
                            'supports_operator'],
             'ParserError': ['code', 'desc', 'file', 'func', 'line', 'local_function_stack',
                             'local_function_stack_size', 'node', 'node_name', 'node_operator'],
             'Runtime': ['DLA_core', 'deserialize_cuda_engine', 'engine_host_code_allowed', 'error_recorder',
                         'get_plugin_registry', 'gpu_allocator', 'load_runtime', 'logger', 'max_threads',
                         'num_DLA_cores', 'tempfile_control_flags', 'temporary_directory']},
 'enums': {'BuilderFlag': {'BF16': 17,
                           'DEBUG': 2,
                           'DIRECT_IO': 11,
                           'DISABLE_COMPILATION_CACHE': 18,
                           'DISABLE_TIMING_CACHE': 5,
                           'DISTRIBUTIVE_INDEPENDENCE': 28,
                           'EDITABLE_TIMING_CACHE': 27,
                           'ERROR_ON_TIMING_CACHE_MISS': 16,
                           'EXCLUDE_LEAN_RUNTIME': 14,
                           'FP16': 0,
                           'FP4': 26,
                           'FP8': 15,
                           'GPU_FALLBACK': 3,
                           'INT4': 22,
                           'INT8': 1,
                           'MONITOR_MEMORY': 25,
                           'OBEY_PRECISION_CONSTRAINTS': 9,
                           'PREFER_PRECISION_CONSTRAINTS': 10,
                           'REFIT': 4,
                           'REFIT_IDENTICAL': 20,
                           'REFIT_INDIVIDUAL': 23,
                           'REJECT_EMPTY_ALGORITHMS': 12,
                           'SAFETY_SCOPE': 8,
                           'SPARSE_WEIGHTS': 7,
                           'STRICT_NANS': 24,
                           'STRIP_PLAN': 19,
                           'TF32': 6,
                           'VERSION_COMPATIBLE': 13,
                           'WEIGHTLESS': 19,
                           'WEIGHT_STREAMING': 21},
           'DataType': {'BF16': 7,
                        'BOOL': 4,
                        'E8M0': 11,
                        'FLOAT': 0,
                        'FP4': 10,
                        'FP8': 6,
                        'HALF': 1,
                        'INT32': 3,
                        'INT4': 9,
                        'INT64': 8,
                        'INT8': 2,
                        'UINT8': 5},
           'Logger.Severity': {'ERROR': 1, 'INFO': 3, 'INTERNAL_ERROR': 0, 'VERBOSE': 4, 'WARNING': 2},
           'MemoryPoolType': {'DLA_GLOBAL_DRAM': 3,
                              'DLA_LOCAL_DRAM': 2,
                              'DLA_MANAGED_SRAM': 1,
                              'TACTIC_DRAM': 4,
                              'TACTIC_SHARED_MEMORY': 5,
                              'WORKSPACE': 0},
           'NetworkDefinitionCreationFlag': {'EXPLICIT_BATCH': 0,
                                             'PREFER_AOT_PYTHON_PLUGINS': 3,
                                             'PREFER_JIT_PYTHON_PLUGINS': 2,
                                             'STRONGLY_TYPED': 1},
           'TensorIOMode': {'INPUT': 1, 'NONE': 0, 'OUTPUT': 2}},
 'module': ['Builder', 'BuilderFlag', 'DataType', 'Dims', 'IBuilderConfig', 'ICudaEngine', 'IExecutionContext',
            'IHostMemory', 'IInt8Calibrator', 'IInt8EntropyCalibrator2', 'IInt8MinMaxCalibrator', 'ILogger',
            'INetworkDefinition', 'IOptimizationProfile', 'ITimingCache', 'Logger', 'MemoryPoolType',
            'NetworkDefinitionCreationFlag', 'OnnxParser', 'ParserError', 'QuantizationFlag', 'Runtime',
            'TensorIOMode', 'nptype']}

API_11 = {'classes': {'Builder': ['build_engine_with_config', 'build_serialized_network',
                         'build_serialized_network_to_stream', 'create_builder_config', 'create_network',
                         'create_optimization_profile', 'error_recorder', 'get_plugin_registry', 'gpu_allocator',
                         'is_network_supported', 'logger', 'max_DLA_batch_size', 'max_threads', 'num_DLA_cores',
                         'reset'],
             'IBuilderConfig': ['DLA_core', 'add_optimization_profile', 'all_build_routes', 'avg_timing_iterations',
                                'build_route', 'builder_optimization_level', 'can_run_on_DLA', 'clear_flag',
                                'create_timing_cache', 'default_device_type', 'engine_capability', 'flags',
                                'get_device_type', 'get_flag', 'get_memory_pool_limit', 'get_preview_feature',
                                'get_tactic_sources', 'get_timing_cache', 'hardware_compatibility_level',
                                'is_device_type_set', 'l2_limit_for_tiling', 'max_aux_streams', 'max_num_tactics',
                                'num_optimization_profiles', 'plugins_to_serialize', 'profile_stream',
                                'profiling_verbosity', 'progress_monitor', 'remote_auto_tuning_config', 'reset',
                                'reset_device_type', 'runtime_platform', 'set_device_type', 'set_flag',
                                'set_memory_pool_limit', 'set_preview_feature', 'set_tactic_sources',
                                'set_timing_cache', 'tiling_optimization_level'],
             'ICudaEngine': ['create_engine_inspector', 'create_execution_context', 'create_runtime_config',
                             'create_serialization_config', 'device_memory_size_v2', 'engine_capability',
                             'error_recorder', 'get_aliased_input_tensor', 'get_device_memory_size_for_profile_v2',
                             'get_engine_stat', 'get_tensor_bytes_per_component',
                             'get_tensor_components_per_element', 'get_tensor_dtype', 'get_tensor_format',
                             'get_tensor_format_desc', 'get_tensor_location', 'get_tensor_mode', 'get_tensor_name',
                             'get_tensor_profile_shape', 'get_tensor_profile_values', 'get_tensor_shape',
                             'get_tensor_vectorized_dim', 'get_weight_streaming_automatic_budget',
                             'hardware_compatibility_level', 'is_debug_tensor', 'is_shape_inference_io', 'name',
                             'num_aux_streams', 'num_io_tensors', 'num_layers', 'num_optimization_profiles',
                             'profiling_verbosity', 'refittable', 'serialize', 'serialize_with_config',
                             'streamable_weights_size', 'tactic_sources', 'weight_streaming_budget_v2',
                             'weight_streaming_scratch_memory_size'],
             'IExecutionContext': ['active_optimization_profile', 'all_binding_shapes_specified', 'debug_sync',
                                   'device_memory', 'engine', 'enqueue_emits_profile', 'error_recorder',
                                   'execute_async_v3', 'execute_v2', 'get_debug_listener', 'get_debug_state',
                                   'get_input_consumed_event', 'get_max_output_size', 'get_output_allocator',
                                   'get_runtime_config', 'get_tensor_address', 'get_tensor_shape',
                                   'get_tensor_strides', 'infer_shapes', 'name', 'nvtx_verbosity',
                                   'persistent_cache_limit', 'profiler', 'report_to_profiler',
                                   'set_all_tensors_debug_state', 'set_aux_streams', 'set_communicator',
                                   'set_debug_listener', 'set_device_memory', 'set_input_consumed_event',
                                   'set_input_shape', 'set_optimization_profile_async', 'set_output_allocator',
                                   'set_tensor_address', 'set_tensor_debug_state', 'temporary_allocator',
                                   'unfused_tensors_debug_state', 'update_device_memory_size_for_shapes'],
             'IHostMemory': ['dtype', 'nbytes'],
             'INetworkDefinition': ['are_weights_marked_refittable', 'builder', 'error_recorder', 'flags',
                                    'get_flag', 'get_input', 'get_layer', 'get_output',
                                    'has_implicit_batch_dimension', 'is_debug_tensor', 'mark_debug', 'mark_output',
                                    'mark_output_for_shapes', 'mark_unfused_tensors_as_debug_tensors',
                                    'mark_weights_refittable', 'name', 'num_inputs', 'num_layers', 'num_outputs',
                                    'remove_tensor', 'set_weights_name', 'unmark_debug', 'unmark_output',
                                    'unmark_output_for_shapes', 'unmark_unfused_tensors_as_debug_tensors',
                                    'unmark_weights_refittable'],
             'IOptimizationProfile': ['extra_memory_target', 'get_shape', 'get_shape_input', 'profile_stream',
                                      'set_shape', 'set_shape_input'],
             'ITensor': ['allowed_formats', 'broadcast_across_batch', 'dtype', 'get_dimension_name',
                         'is_execution_tensor', 'is_network_input', 'is_network_output', 'is_shape_tensor',
                         'location', 'name', 'set_dimension_name', 'shape'],
             'ITimingCache': ['combine', 'query', 'queryKeys', 'reset', 'serialize', 'update'],
             'Logger': ['ERROR', 'INFO', 'INTERNAL_ERROR', 'Severity', 'VERBOSE', 'WARNING', 'log', 'min_severity'],
             'OnnxParser': ['clear_errors', 'clear_flag', 'flags', 'get_error', 'get_flag',
                            'get_layer_output_tensor', 'get_subgraph_nodes', 'get_used_vc_plugin_libraries',
                            'is_subgraph_supported', 'load_initializer', 'load_model_proto', 'num_errors',
                            'num_subgraphs', 'parse', 'parse_from_file', 'parse_model_proto', 'set_builder_config',
                            'set_flag', 'supports_model_v2', 'supports_operator'],
             'ParserError': ['code', 'desc', 'file', 'func', 'line', 'local_function_stack',
                             'local_function_stack_size', 'node', 'node_name', 'node_operator'],
             'Runtime': ['DLA_core', 'deserialize_cuda_engine', 'dla_workspace_allocation_strategy',
                         'engine_host_code_allowed', 'error_recorder', 'get_plugin_registry', 'gpu_allocator',
                         'load_runtime', 'logger', 'max_threads', 'num_DLA_cores', 'tempfile_control_flags',
                         'temporary_directory']},
 'enums': {'BuilderFlag': {'DEBUG': 2,
                           'DIRECT_IO': 11,
                           'DISABLE_COMPILATION_CACHE': 17,
                           'DISABLE_TIMING_CACHE': 5,
                           'DISTRIBUTIVE_INDEPENDENCE': 27,
                           'EDITABLE_TIMING_CACHE': 26,
                           'ERROR_ON_TIMING_CACHE_MISS': 15,
                           'EXCLUDE_LEAN_RUNTIME': 13,
                           'GPU_FALLBACK': 3,
                           'MONITOR_MEMORY': 24,
                           'REFIT': 4,
                           'REFIT_IDENTICAL': 19,
                           'REFIT_INDIVIDUAL': 22,
                           'SAFETY_SCOPE': 8,
                           'SPARSE_WEIGHTS': 7,
                           'STRICT_NANS': 23,
                           'STRIP_PLAN': 18,
                           'TF32': 6,
                           'VERSION_COMPATIBLE': 12,
                           'WEIGHT_STREAMING': 20},
           'DataType': {'BF16': 7,
                        'BOOL': 4,
                        'E8M0': 11,
                        'FLOAT': 0,
                        'FP4': 10,
                        'FP8': 6,
                        'HALF': 1,
                        'INT32': 3,
                        'INT4': 9,
                        'INT64': 8,
                        'INT8': 2,
                        'UINT8': 5},
           'Logger.Severity': {'ERROR': 1, 'INFO': 3, 'INTERNAL_ERROR': 0, 'VERBOSE': 4, 'WARNING': 2},
           'MemoryPoolType': {'DLA_GLOBAL_DRAM': 3,
                              'DLA_LOCAL_DRAM': 2,
                              'DLA_MANAGED_SRAM': 1,
                              'TACTIC_DRAM': 4,
                              'TACTIC_SHARED_MEMORY': 5,
                              'WORKSPACE': 0},
           'NetworkDefinitionCreationFlag': {'PREFER_AOT_PYTHON_PLUGINS': 2,
                                             'PREFER_JIT_PYTHON_PLUGINS': 1,
                                             'STRONGLY_TYPED': 0},
           'TensorIOMode': {'INPUT': 1, 'NONE': 0, 'OUTPUT': 2}},
 'module': ['Builder', 'BuilderFlag', 'DataType', 'Dims', 'IBuilderConfig', 'ICudaEngine', 'IExecutionContext',
            'IHostMemory', 'ILogger', 'INetworkDefinition', 'IOptimizationProfile', 'ITimingCache', 'Logger',
            'MemoryPoolType', 'NetworkDefinitionCreationFlag', 'OnnxParser', 'ParserError', 'Runtime',
            'TensorIOMode', 'nptype']}

MAGIC = b"FAKETRT1\n"
ONNX_TO_TRT = {onnx.TensorProto.FLOAT: "FLOAT", onnx.TensorProto.FLOAT16: "HALF", onnx.TensorProto.INT64: "INT64",
               onnx.TensorProto.INT32: "INT32", onnx.TensorProto.INT8: "INT8", onnx.TensorProto.BOOL: "BOOL",
               onnx.TensorProto.UINT8: "UINT8"}
TRT_TO_NP = {"FLOAT": np.float32, "HALF": np.float16, "INT64": np.int64, "INT32": np.int32, "INT8": np.int8,
             "BOOL": np.bool_, "UINT8": np.uint8}
PRECISION_FLAGS = ("FP16", "INT8", "BF16", "FP8", "INT4", "FP4")


class RemovedAPI(AssertionError):
    """Raised when code touches a name that the faked TensorRT version does not have."""


def _val(a):
    return a.value if hasattr(a, "value") else a


# ------------------------------------------------------------------------------------------------ GPU
class FakeGpu:
    """cudart stand-in: `lib` has plain functions taking ctypes arguments, like ctypes.CDLL('libcudart')."""

    def __init__(self, name="NVIDIA T4 (fake)", cc=(7, 5)):
        self.name, self.cc = name, cc
        self.device, self.pinned = {}, {}  # address -> ctypes buffer
        self.streams, self.graphs, self.execs = set(), {}, {}
        self.capturing = {}  # stream -> list of recorded ops
        self.calls = []
        self._next = 1
        names = ["cudaMalloc", "cudaFree", "cudaMallocHost", "cudaFreeHost", "cudaMemcpyAsync", "cudaStreamCreate",
                 "cudaStreamDestroy", "cudaStreamSynchronize", "cudaDeviceGetAttribute", "cudaGetDeviceProperties",
                 "cudaStreamBeginCapture", "cudaStreamEndCapture", "cudaGraphInstantiateWithFlags",
                 "cudaGraphLaunch", "cudaGraphDestroy", "cudaGraphExecDestroy", "cudaGetErrorString"]
        self.lib = types.SimpleNamespace(**{n: self._plain(n) for n in names})

    def _plain(self, name):
        method = getattr(self, "_" + name)

        def fn(*args):  # a plain function, so cuda.py may set .restype on it as on a ctypes function
            self.calls.append(name)
            return method(*args)

        return fn

    def _alloc(self, table, pp, size):
        buf = (ctypes.c_char * max(int(_val(size)), 1))()
        addr = ctypes.addressof(buf)
        table[addr] = buf
        pp._obj.value = addr
        return 0

    def _cudaMalloc(self, pp, size):
        return self._alloc(self.device, pp, size)

    def _cudaMallocHost(self, pp, size):
        return self._alloc(self.pinned, pp, size)

    def _cudaFree(self, p):
        return 0 if self.device.pop(_val(p), None) is not None else 1  # 1 = cudaErrorInvalidValue

    def _cudaFreeHost(self, p):
        return 0 if self.pinned.pop(_val(p), None) is not None else 1

    def _inside(self, table, addr, n):
        return any(a <= addr and addr + n <= a + len(b) for a, b in table.items())

    def _cudaMemcpyAsync(self, dst, src, n, kind, stream):
        dst, src, n, kind, stream = _val(dst), _val(src), _val(n), _val(kind), _val(stream) or 0
        dst_table, src_table = {1: (self.device, self.pinned), 2: (self.pinned, self.device),
                                3: (self.device, self.device)}[kind]
        if not (self._inside(dst_table, dst, n) and self._inside(src_table, src, n)):
            return 1
        self.enqueue(stream, lambda: ctypes.memmove(dst, src, n))
        return 0

    def enqueue(self, stream, op):
        if stream in self.capturing:
            self.capturing[stream].append(op)
        else:
            op()

    def _cudaStreamCreate(self, pp):
        s = 0x5000 + self._next
        self._next += 1
        self.streams.add(s)
        pp._obj.value = s
        return 0

    def _cudaStreamDestroy(self, s):
        return 0 if _val(s) in self.streams and not self.streams.discard(_val(s)) else 1

    def _cudaStreamSynchronize(self, s):
        return 0 if (_val(s) or 0) in self.streams | {0} else 1

    def _cudaDeviceGetAttribute(self, p, attr, dev):
        p._obj.value = {75: self.cc[0], 76: self.cc[1]}[_val(attr)]
        return 0

    def _cudaGetDeviceProperties(self, buf, dev):
        raw = self.name.encode()
        ctypes.memmove(buf, raw, len(raw))
        return 0

    def _cudaStreamBeginCapture(self, s, mode):
        self.capturing[_val(s)] = []
        return 0

    def _cudaStreamEndCapture(self, s, pp):
        ops = self.capturing.pop(_val(s))
        gid = 0x7000 + self._next
        self._next += 1
        self.graphs[gid] = ops
        pp._obj.value = gid
        return 0

    def _cudaGraphInstantiateWithFlags(self, pp, g, flags):
        eid = 0x9000 + self._next
        self._next += 1
        self.execs[eid] = list(self.graphs[_val(g)])
        pp._obj.value = eid
        return 0

    def _cudaGraphLaunch(self, e, s):
        self.calls.append("graph_replay")
        for op in self.execs[_val(e)]:
            self.enqueue(_val(s), op)
        return 0

    def _cudaGraphDestroy(self, g):
        return 0 if self.graphs.pop(_val(g), None) is not None else 1

    def _cudaGraphExecDestroy(self, e):
        return 0 if self.execs.pop(_val(e), None) is not None else 1

    def _cudaGetErrorString(self, rc):
        return b"fake cuda error"


# ------------------------------------------------------------------------------------------- TensorRT
class _Strict:
    """Base of the fake classes: only names the real class has in this version can be touched."""

    _cls = None

    def _check(self, name):
        if not name.startswith("_"):
            trt = object.__getattribute__(self, "_trt")
            if name not in trt._api["classes"][type(self)._cls]:
                raise RemovedAPI(f"tensorrt {trt.__version__}: {type(self)._cls}.{name} does not exist in this version")

    def __getattribute__(self, name):
        object.__getattribute__(self, "_check")(name)
        return object.__getattribute__(self, name)

    def __setattr__(self, name, value):
        if name != "_trt":
            self._check(name)
        object.__setattr__(self, name, value)

    def _rec(self, what, *args):
        self._trt.calls.append((f"{type(self)._cls}.{what}", args))


class FakeHostMemory(bytes):
    """IHostMemory: a bytes-like buffer with nbytes (the real one supports the buffer protocol)."""

    @property
    def nbytes(self):
        return len(self)


class FakeLogger(_Strict):
    _cls = "Logger"

    def __init__(self, trt, min_severity):
        self._trt, self.min_severity = trt, min_severity


class FakeTensor(_Strict):
    _cls = "ITensor"

    def __init__(self, trt, name, shape, dtype):
        self._trt, self.name, self.shape, self.dtype = trt, name, tuple(shape), dtype


class FakeNetwork(_Strict):
    _cls = "INetworkDefinition"

    def __init__(self, trt, flags):
        self._trt, self._flags = trt, flags
        self._inputs, self._outputs, self._onnx = [], [], None

    @property
    def num_inputs(self):
        return len(self._inputs)

    @property
    def num_outputs(self):
        return len(self._outputs)

    def get_input(self, i):
        return self._inputs[i]

    def get_output(self, i):
        return self._outputs[i]

    def get_flag(self, flag):
        return bool(self._flags & (1 << int(flag)))


class FakeParserError(_Strict):
    _cls = "ParserError"

    def __init__(self, trt, node, op, name, desc):
        self._trt, self._node, self._op, self._name, self._desc = trt, node, op, name, desc

    def code(self):
        return 8  # ErrorCode.UNSUPPORTED_NODE

    def desc(self):
        return self._desc

    def node(self):
        return self._node

    def node_name(self):
        return self._name

    def node_operator(self):
        return self._op


class FakeOnnxParser(_Strict):
    _cls = "OnnxParser"

    def __init__(self, trt, network, logger):
        self._trt, self._network, self._errors = trt, network, []

    @property
    def num_errors(self):
        return len(self._errors)

    def get_error(self, i):
        return self._errors[i]

    def parse_from_file(self, path):
        self._rec("parse_from_file", path)
        model = onnx.load(path)
        for i, node in enumerate(model.graph.node):
            if node.op_type in self._trt.unsupported_ops:
                self._errors.append(FakeParserError(self._trt, i, node.op_type, node.name,
                                                    f"No importer registered for op: {node.op_type}"))
        if self._errors:
            return False
        inits = {t.name for t in model.graph.initializer}

        def tensor(vi):
            tt = vi.type.tensor_type
            shape = [d.dim_value if d.dim_value else -1 for d in tt.shape.dim]
            return FakeTensor(self._trt, vi.name, shape, self._trt.DataType[ONNX_TO_TRT[tt.elem_type]])

        self._network._inputs = [tensor(v) for v in model.graph.input if v.name not in inits]
        self._network._outputs = [tensor(v) for v in model.graph.output]
        self._network._onnx = model
        self._trt.parsed.append(model)
        return True


class FakeProfile(_Strict):
    _cls = "IOptimizationProfile"

    def __init__(self, trt):
        self._trt, self._shapes = trt, {}

    def set_shape(self, input, min, opt, max):
        self._rec("set_shape", input, tuple(min), tuple(opt), tuple(max))
        if not (len(min) == len(opt) == len(max)) or any(a > b for a, b in zip(min, opt)) or \
                any(a > b for a, b in zip(opt, max)):
            raise ValueError("fake tensorrt: profile needs min <= opt <= max")
        self._shapes[input] = [tuple(min), tuple(opt), tuple(max)]

    def get_shape(self, input):
        return self._shapes[input]


class FakeTimingCache(_Strict):
    _cls = "ITimingCache"

    def __init__(self, trt, data):
        self._trt, self._data = trt, bytes(data)

    def serialize(self):
        return FakeHostMemory(b"FAKECACHE:" + self._trt.__version__.encode() + b":" + self._data[-8:])


class FakeConfig(_Strict):
    _cls = "IBuilderConfig"

    def __init__(self, trt):
        self._trt, self._flags, self._pools, self._profiles, self._cache = trt, set(), {}, [], None

    def set_flag(self, flag):
        self._rec("set_flag", flag)
        self._flags.add(flag.name)

    def set_memory_pool_limit(self, pool, pool_size):
        self._rec("set_memory_pool_limit", pool, pool_size)
        assert isinstance(pool, self._trt.MemoryPoolType), "pool must be a MemoryPoolType"
        self._pools[pool.name] = int(pool_size)

    def get_memory_pool_limit(self, pool):
        return self._pools.get(pool.name, 0)

    def add_optimization_profile(self, profile):
        self._rec("add_optimization_profile", dict(profile._shapes))
        self._profiles.append(profile)
        return len(self._profiles) - 1

    @property
    def num_optimization_profiles(self):
        return len(self._profiles)

    def create_timing_cache(self, serialized_timing_cache):
        self._rec("create_timing_cache", bytes(serialized_timing_cache))
        return FakeTimingCache(self._trt, serialized_timing_cache)

    def set_timing_cache(self, cache, ignore_mismatch):
        self._rec("set_timing_cache", ignore_mismatch)
        data = cache._data
        if data and not data.startswith(b"FAKECACHE:" + self._trt.__version__.encode()):
            return False  # a cache from another version / device is refused
        self._cache = cache
        return True

    def get_timing_cache(self):
        return self._cache


class FakeBuilder(_Strict):
    _cls = "Builder"

    def __init__(self, trt, logger):
        self._trt = trt
        trt.calls.append(("Builder", ()))

    def create_network(self, flags=0):
        self._rec("create_network", flags)
        known = 0
        for m in self._trt.NetworkDefinitionCreationFlag:
            known |= 1 << int(m)
        if flags & ~known:
            raise ValueError(f"fake tensorrt {self._trt.__version__}: unknown network flags {flags:#x}")
        return FakeNetwork(self._trt, flags)

    def create_builder_config(self):
        return FakeConfig(self._trt)

    def create_optimization_profile(self):
        return FakeProfile(self._trt)

    def build_serialized_network(self, network, config):
        self._rec("build_serialized_network")
        trt = self._trt
        if network._onnx is None:
            raise RuntimeError("fake tensorrt: building an empty network")
        strongly = network.get_flag(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
        bad = config._flags & set(PRECISION_FLAGS)
        if strongly and bad:  # the real builder rejects precision flags on strongly typed networks
            return None
        dynamic = [t for t in network._inputs if -1 in t.shape]
        profile = config._profiles[0]._shapes if config._profiles else {}
        if any(t.name not in profile for t in dynamic):
            return None  # the real builder: "network has dynamic inputs but no optimization profile"
        if trt.fail_build:
            return None
        io = []
        sess = ort.InferenceSession(network._onnx.SerializeToString(), providers=["CPUExecutionProvider"])
        feed = {t.name: np.zeros([1] + list(t.shape[1:]), TRT_TO_NP[t.dtype.name]) for t in network._inputs}
        outs = sess.run([t.name for t in network._outputs], feed)
        for t in network._inputs:
            io.append({"name": t.name, "mode": "INPUT", "dtype": t.dtype.name, "shape": list(t.shape)})
        for t, o in zip(network._outputs, outs):
            io.append({"name": t.name, "mode": "OUTPUT", "dtype": t.dtype.name, "shape": [-1] + list(o.shape[1:])})
        header = {"version": trt.__version__, "io": io, "strongly_typed": strongly,
                  "profile": {k: [list(s) for s in v] for k, v in profile.items()}}
        return FakeHostMemory(MAGIC + json.dumps(header).encode() + b"\n" + network._onnx.SerializeToString())


class FakeRuntime(_Strict):
    _cls = "Runtime"

    def __init__(self, trt, logger):
        self._trt = trt

    def deserialize_cuda_engine(self, serialized_engine):
        data = bytes(serialized_engine)
        self._rec("deserialize_cuda_engine", len(data))
        if not data.startswith(MAGIC):
            return None
        head, body = data[len(MAGIC):].split(b"\n", 1)
        header = json.loads(head)
        if header["version"] != self._trt.__version__:
            return None  # the real runtime logs "version mismatch" and returns None
        return FakeEngine(self._trt, header, body)


class FakeEngine(_Strict):
    _cls = "ICudaEngine"

    def __init__(self, trt, header, onnx_bytes):
        self._trt, self._io = trt, header["io"]
        self._by_name = {t["name"]: t for t in self._io}
        self._profile = {k: [tuple(s) for s in v] for k, v in header["profile"].items()}
        self._session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])

    @property
    def num_io_tensors(self):
        return len(self._io)

    def get_tensor_name(self, index):
        return self._io[index]["name"]

    def get_tensor_mode(self, name):
        return self._trt.TensorIOMode[self._by_name[name]["mode"]]

    def get_tensor_dtype(self, name):
        return self._trt.DataType[self._by_name[name]["dtype"]]

    def get_tensor_shape(self, name):
        return tuple(self._by_name[name]["shape"])

    def get_tensor_profile_shape(self, name, profile_index):
        assert profile_index == 0
        return list(self._profile[name])

    def create_execution_context(self):
        return FakeContext(self._trt, self)


class FakeContext(_Strict):
    _cls = "IExecutionContext"

    def __init__(self, trt, engine):
        self._trt, self._engine, self._shapes, self._addr = trt, engine, {}, {}

    def set_input_shape(self, name, shape):
        self._rec("set_input_shape", name, tuple(shape))
        lo, _, hi = self._engine._profile[name]
        ok = len(shape) == len(lo) and all(a <= s <= b for a, s, b in zip(lo, shape, hi))
        if ok:
            self._shapes[name] = tuple(shape)
        return ok

    def get_tensor_shape(self, name):
        t = self._engine._by_name[name]
        if t["mode"] == "INPUT":
            return self._shapes[name]
        batch = next(iter(self._shapes.values()))[0]
        return (batch,) + tuple(t["shape"][1:])

    def set_tensor_address(self, name, memory):
        self._rec("set_tensor_address", name, memory)
        if name not in self._engine._by_name or not memory:
            return False
        self._addr[name] = int(memory)
        return True

    def execute_async_v3(self, stream_handle):
        self._rec("execute_async_v3", stream_handle)
        missing = [t["name"] for t in self._engine._io if t["name"] not in self._addr]
        if missing or not self._shapes:
            return False
        gpu = self._trt.gpu
        if gpu is not None and gpu.device and not all(gpu._inside(gpu.device, a, 1) for a in self._addr.values()):
            return False  # a bound address that is not device memory
        shapes = dict(self._shapes)
        self._trt.gpu.enqueue(stream_handle, lambda: self._run(shapes))
        return True

    def _run(self, shapes):
        feed = {}
        for t in self._engine._io:
            if t["mode"] == "INPUT":
                shape, dt = shapes[t["name"]], np.dtype(TRT_TO_NP[t["dtype"]])
                n = int(np.prod(shape)) * dt.itemsize
                raw = (ctypes.c_char * n).from_address(self._addr[t["name"]])
                feed[t["name"]] = np.frombuffer(raw, dtype=dt).reshape(shape).copy()
        names = [t["name"] for t in self._engine._io if t["mode"] == "OUTPUT"]
        for name, out in zip(names, self._engine._session.run(names, feed)):
            out = np.ascontiguousarray(out, dtype=TRT_TO_NP[self._engine._by_name[name]["dtype"]])
            ctypes.memmove(self._addr[name], out.ctypes.data, out.nbytes)


# --------------------------------------------------------------------------------------------- module
class FakeTensorRT(types.ModuleType):
    """The module object: `sys.modules['tensorrt'] = make(...)`."""

    def __getattr__(self, name):
        raise RemovedAPI(f"tensorrt {self.__dict__.get('__version__')}: module attribute {name!r} does not exist "
                         "in this version (or is not faked)")


def make(version="11.4.0.106", gpu=None, unsupported_ops=(), fail_build=False):
    major = version.split(".")[0]
    api = {"10": API_10, "11": API_11}.get(major, API_11)
    trt = FakeTensorRT("tensorrt")
    trt.__version__ = version
    trt._api, trt.calls, trt.parsed = api, [], []
    trt.gpu, trt.unsupported_ops, trt.fail_build = gpu, set(unsupported_ops), fail_build
    for name, members in api["enums"].items():
        if name == "Logger.Severity":
            continue
        # BuilderFlag.WEIGHTLESS aliases STRIP_PLAN in 10.x: IntEnum keeps the first name for a shared value.
        setattr(trt, name, enum.IntEnum(name, members))
    severity = enum.IntEnum("Severity", api["enums"]["Logger.Severity"])

    def bind(cls):
        return lambda *a: cls(trt, *a)

    logger = type("Logger", (FakeLogger,), {"Severity": severity, **severity.__members__})
    trt.Logger = lambda min_severity=severity.WARNING: logger(trt, min_severity)
    for k, v in severity.__members__.items():
        setattr(trt.Logger, k, v)
    trt.Builder, trt.OnnxParser, trt.Runtime = bind(FakeBuilder), bind(FakeOnnxParser), bind(FakeRuntime)
    trt.nptype = lambda t: TRT_TO_NP[t.name]
    return trt


def calls(trt, what):
    """The argument tuples of every recorded call to `what` (e.g. 'IBuilderConfig.set_memory_pool_limit')."""
    return [args for name, args in trt.calls if name == what]
