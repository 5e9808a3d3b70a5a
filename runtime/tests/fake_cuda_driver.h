// A CUDA driver in host memory, for running the CUDA backend's whole
// lifecycle without a GPU and failing any driver call on purpose: "device"
// memory and pinned memory are malloc'ed (a device address is the host
// address), copies and memsets happen at once (or, inside a stream capture,
// are recorded into the graph and replayed by cuGraphLaunch), kernels launch
// as no-ops, modules/streams/events/graphs are counted tokens. One fake at a
// time (the table holds plain function pointers: the state is global).
#ifndef HSA_RUNTIME_TESTS_FAKE_CUDA_DRIVER_H
#define HSA_RUNTIME_TESTS_FAKE_CUDA_DRIVER_H

#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "cuda_driver.h"

namespace hsa {
namespace test {

class FakeCudaDriver {
 public:
  // Counted calls (every entry point but the cleanup ones: frees, unloads,
  // destroys, releases, error strings) number 1, 2, ...; call `fail_call`
  // fails (0: none). With `fail_only` set, only calls of that entry point
  // count. Allocations fail with CUDA_ERROR_OUT_OF_MEMORY, the rest with
  // CUDA_ERROR_UNKNOWN.
  uint64_t fail_call = 0;
  // What cuEventQuery answers (work runs at once here: CUDA_ERROR_NOT_READY
  // plays a device that is behind).
  CUresult event_query = CUDA_SUCCESS;
  std::string fail_only;
  uint64_t free_bytes = uint64_t(80) << 30;  // what cuMemGetInfo reports
  int cc_major = 9, cc_minor = 0;
  int static_shared_bytes = 0;                 // every kernel's CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES
  int max_shared_per_block_optin = 227 * 1024;  // CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN (H100/H200)
  int max_dynamic_shared_set = -1;              // the last cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)
  std::set<CUstream> foreign_streams;           // cuStreamGetCtx reports another context for these
  int pointer_device = 0;                       // CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL of fake allocations
  // Fake device memory for a test's device tensors (freed with the driver).
  CUdeviceptr device_tensor(size_t bytes) { return CUdeviceptr(allocate(bytes, false)); }

  FakeCudaDriver() { current() = this; }
  ~FakeCudaDriver() {
    for (auto& entry : memory_) std::free(entry.first);
    current() = nullptr;
  }
  FakeCudaDriver(const FakeCudaDriver&) = delete;
  FakeCudaDriver& operator=(const FakeCudaDriver&) = delete;

  uint64_t counted_calls() const { return counted_; }
  uint64_t calls_of(const std::string& name) const {
    auto it = calls_.find(name);
    return it == calls_.end() ? 0 : it->second;
  }
  uint64_t failures() const { return failures_; }
  // Resources still held: device allocations, pinned allocations, modules,
  // streams, events, graphs, graph execs, retained primary contexts.
  std::string leaks() const {
    std::string text;
    auto add = [&](const char* what, int64_t n) {
      if (n) text += std::string(text.empty() ? "" : ", ") + what + " " + std::to_string(n);
    };
    int64_t device = 0, pinned = 0;
    for (const auto& entry : memory_) (entry.second ? pinned : device) += 1;
    add("device allocations", device);
    add("pinned allocations", pinned);
    add("modules", modules_);
    add("streams", streams_);
    add("events", events_);
    add("graphs", graphs_);
    add("graph execs", graph_execs_);
    add("retained contexts", contexts_);
    add("frees of unknown addresses", bad_frees_);
    return text;
  }

  // A driver table whose entries call this fake.
  std::unique_ptr<CudaDriver> table() const {
    std::unique_ptr<CudaDriver> d = CudaDriver::without_library();
    d->cuInit = [](unsigned int) { return fake().result("cuInit"); };
    d->cuDriverGetVersion = [](int* v) {
      *v = 12080;
      return fake().result("cuDriverGetVersion");
    };
    d->cuGetErrorName = [](CUresult r, const char** name) {
      *name = r == CUDA_ERROR_OUT_OF_MEMORY ? "CUDA_ERROR_OUT_OF_MEMORY" : "CUDA_ERROR_UNKNOWN";
      return CUDA_SUCCESS;
    };
    d->cuGetErrorString = [](CUresult, const char** text) {
      *text = "injected by the fake driver";
      return CUDA_SUCCESS;
    };
    d->cuDeviceGetCount = [](int* count) {
      *count = 1;
      return fake().result("cuDeviceGetCount");
    };
    d->cuDeviceGet = [](CUdevice* device, int ordinal) {
      *device = ordinal;
      return fake().result("cuDeviceGet");
    };
    d->cuDeviceGetAttribute = [](int* value, CUdevice_attribute attribute, CUdevice) {
      *value = attribute == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR        ? fake().cc_major
               : attribute == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR      ? fake().cc_minor
               : attribute == CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN ? fake().max_shared_per_block_optin
                                                                               : 0;
      return fake().result("cuDeviceGetAttribute");
    };
    d->cuDeviceGetName = [](char* name, int length, CUdevice) {
      std::strncpy(name, "fake device", size_t(length));
      return fake().result("cuDeviceGetName");
    };
    d->cuDeviceTotalMem = [](size_t* bytes, CUdevice) {
      *bytes = size_t(96) << 30;
      return fake().result("cuDeviceTotalMem");
    };
    d->cuMemGetInfo = [](size_t* free, size_t* total) {
      *free = size_t(fake().free_bytes);
      *total = size_t(96) << 30;
      return fake().result("cuMemGetInfo");
    };
    d->cuDevicePrimaryCtxRetain = [](CUcontext* context, CUdevice) {
      if (fake().fails("cuDevicePrimaryCtxRetain")) return CUDA_ERROR_UNKNOWN;
      *context = reinterpret_cast<CUcontext>(&fake());
      ++fake().contexts_;
      return CUDA_SUCCESS;
    };
    d->cuDevicePrimaryCtxRelease = [](CUdevice) {
      --fake().contexts_;
      return CUDA_SUCCESS;
    };
    d->cuCtxSetCurrent = [](CUcontext) { return fake().result("cuCtxSetCurrent"); };
    d->cuModuleLoadDataEx = [](CUmodule* module, const void*, unsigned int, CUjit_option*, void**) {
      if (fake().fails("cuModuleLoadDataEx")) return CUDA_ERROR_UNKNOWN;
      *module = reinterpret_cast<CUmodule>(new int(0));
      ++fake().modules_;
      return CUDA_SUCCESS;
    };
    d->cuModuleGetFunction = [](CUfunction* function, CUmodule module, const char*) {
      *function = reinterpret_cast<CUfunction>(module);
      return fake().result("cuModuleGetFunction");
    };
    d->cuModuleUnload = [](CUmodule module) {
      delete reinterpret_cast<int*>(module);
      --fake().modules_;
      return CUDA_SUCCESS;
    };
    d->cuFuncSetAttribute = [](CUfunction, CUfunction_attribute attribute, int value) {
      if (attribute == CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES) fake().max_dynamic_shared_set = value;
      return fake().result("cuFuncSetAttribute");
    };
    d->cuFuncGetAttribute = [](int* value, CUfunction_attribute attribute, CUfunction) {
      *value = attribute == CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES ? fake().static_shared_bytes : 0;
      return fake().result("cuFuncGetAttribute");
    };
    d->cuLaunchKernel = [](CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream,
                           void**, void**) { return fake().result("cuLaunchKernel"); };  // computes nothing
    d->cuMemAlloc = [](CUdeviceptr* address, size_t bytes) {
      if (fake().fails("cuMemAlloc")) return CUDA_ERROR_OUT_OF_MEMORY;
      *address = CUdeviceptr(fake().allocate(bytes, false));
      return CUDA_SUCCESS;
    };
    d->cuMemFree = [](CUdeviceptr address) { return fake().release(reinterpret_cast<void*>(address), false); };
    d->cuMemsetD8Async = [](CUdeviceptr address, unsigned char value, size_t bytes, CUstream) {
      if (fake().fails("cuMemsetD8Async")) return CUDA_ERROR_UNKNOWN;
      fake().enqueue([=] { std::memset(reinterpret_cast<void*>(address), value, bytes); });
      return CUDA_SUCCESS;
    };
    d->cuMemcpyHtoDAsync = [](CUdeviceptr dst, const void* src, size_t bytes, CUstream) {
      if (fake().fails("cuMemcpyHtoDAsync")) return CUDA_ERROR_UNKNOWN;
      fake().enqueue([=] { std::memcpy(reinterpret_cast<void*>(dst), src, bytes); });
      return CUDA_SUCCESS;
    };
    d->cuMemcpyDtoHAsync = [](void* dst, CUdeviceptr src, size_t bytes, CUstream) {
      if (fake().fails("cuMemcpyDtoHAsync")) return CUDA_ERROR_UNKNOWN;
      fake().enqueue([=] { std::memcpy(dst, reinterpret_cast<const void*>(src), bytes); });
      return CUDA_SUCCESS;
    };
    // Host-to-host in the fake: device addresses are host pointers. Only the
    // fields the runtime sets (addresses, pitches, heights, box) are honoured.
    d->cuMemcpy3DAsync = [](const CUDA_MEMCPY3D* c, CUstream) {
      if (fake().fails("cuMemcpy3DAsync")) return CUDA_ERROR_UNKNOWN;
      const CUDA_MEMCPY3D m = *c;
      if (m.WidthInBytes > m.srcPitch || m.WidthInBytes > m.dstPitch) return CUDA_ERROR_INVALID_VALUE;
      fake().enqueue([=] {
        auto src = [&](size_t y, size_t z) {
          const char* base = m.srcMemoryType == CU_MEMORYTYPE_HOST ? static_cast<const char*>(m.srcHost)
                                                                   : reinterpret_cast<const char*>(m.srcDevice);
          return base + ((m.srcZ + z) * m.srcHeight + m.srcY + y) * m.srcPitch + m.srcXInBytes;
        };
        auto dst = [&](size_t y, size_t z) {
          char* base = m.dstMemoryType == CU_MEMORYTYPE_HOST ? static_cast<char*>(m.dstHost)
                                                             : reinterpret_cast<char*>(m.dstDevice);
          return base + ((m.dstZ + z) * m.dstHeight + m.dstY + y) * m.dstPitch + m.dstXInBytes;
        };
        for (size_t z = 0; z < m.Depth; ++z)
          for (size_t y = 0; y < m.Height; ++y) std::memcpy(dst(y, z), src(y, z), m.WidthInBytes);
      });
      return CUDA_SUCCESS;
    };
    d->cuMemHostAlloc = [](void** host, size_t bytes, unsigned int) {
      if (fake().fails("cuMemHostAlloc")) return CUDA_ERROR_OUT_OF_MEMORY;
      *host = fake().allocate(bytes, true);
      return CUDA_SUCCESS;
    };
    d->cuMemFreeHost = [](void* host) { return fake().release(host, true); };
    d->cuMemHostGetDevicePointer = [](CUdeviceptr* device, void* host, unsigned int) {
      *device = CUdeviceptr(host);
      return fake().result("cuMemHostGetDevicePointer");
    };
    d->cuStreamCreate = [](CUstream* stream, unsigned int) {
      if (fake().fails("cuStreamCreate")) return CUDA_ERROR_UNKNOWN;
      *stream = reinterpret_cast<CUstream>(new int(0));
      ++fake().streams_;
      return CUDA_SUCCESS;
    };
    d->cuStreamDestroy = [](CUstream stream) {
      delete reinterpret_cast<int*>(stream);
      --fake().streams_;
      return CUDA_SUCCESS;
    };
    d->cuStreamSynchronize = [](CUstream) { return fake().result("cuStreamSynchronize"); };
    d->cuStreamBeginCapture = [](CUstream, CUstreamCaptureMode) {
      if (fake().fails("cuStreamBeginCapture")) return CUDA_ERROR_UNKNOWN;
      fake().capturing_ = true;
      fake().captured_.clear();
      return CUDA_SUCCESS;
    };
    d->cuStreamEndCapture = [](CUstream, CUgraph* graph) {
      fake().capturing_ = false;
      if (fake().fails("cuStreamEndCapture")) return CUDA_ERROR_UNKNOWN;
      *graph = reinterpret_cast<CUgraph>(new std::vector<std::function<void()>>(std::move(fake().captured_)));
      ++fake().graphs_;
      return CUDA_SUCCESS;
    };
    d->cuGraphInstantiate = [](CUgraphExec* exec, CUgraph graph, unsigned long long) {
      if (fake().fails("cuGraphInstantiate")) return CUDA_ERROR_UNKNOWN;
      *exec = reinterpret_cast<CUgraphExec>(
          new std::vector<std::function<void()>>(*reinterpret_cast<std::vector<std::function<void()>>*>(graph)));
      ++fake().graph_execs_;
      return CUDA_SUCCESS;
    };
    d->cuGraphLaunch = [](CUgraphExec exec, CUstream) {
      if (fake().fails("cuGraphLaunch")) return CUDA_ERROR_UNKNOWN;
      for (const auto& op : *reinterpret_cast<std::vector<std::function<void()>>*>(exec)) op();
      return CUDA_SUCCESS;
    };
    d->cuGraphDestroy = [](CUgraph graph) {
      delete reinterpret_cast<std::vector<std::function<void()>>*>(graph);
      --fake().graphs_;
      return CUDA_SUCCESS;
    };
    d->cuGraphExecDestroy = [](CUgraphExec exec) {
      delete reinterpret_cast<std::vector<std::function<void()>>*>(exec);
      --fake().graph_execs_;
      return CUDA_SUCCESS;
    };
    d->cuEventCreate = [](CUevent* event, unsigned int) {
      if (fake().fails("cuEventCreate")) return CUDA_ERROR_UNKNOWN;
      *event = reinterpret_cast<CUevent>(new int(0));
      ++fake().events_;
      return CUDA_SUCCESS;
    };
    d->cuEventDestroy = [](CUevent event) {
      delete reinterpret_cast<int*>(event);
      --fake().events_;
      return CUDA_SUCCESS;
    };
    d->cuEventRecord = [](CUevent, CUstream) { return fake().result("cuEventRecord"); };
    d->cuEventSynchronize = [](CUevent) { return fake().result("cuEventSynchronize"); };
    d->cuEventQuery = [](CUevent) {
      return fake().fails("cuEventQuery") ? CUDA_ERROR_UNKNOWN : fake().event_query;
    };
    d->cuEventElapsedTime = [](float* ms, CUevent, CUevent) {
      *ms = 0.001f;
      return fake().result("cuEventElapsedTime");
    };
    // The device API's checks: a stream's context, a pointer's device and
    // the allocation around it. Streams in `foreign_streams` belong to
    // another context; only fake allocations are known pointers.
    d->cuStreamGetCtx = [](CUstream stream, CUcontext* context) {
      if (fake().fails("cuStreamGetCtx")) return CUDA_ERROR_UNKNOWN;
      *context = fake().foreign_streams.count(stream) ? reinterpret_cast<CUcontext>(&fake().foreign_streams)
                                                      : reinterpret_cast<CUcontext>(&fake());
      return CUDA_SUCCESS;
    };
    d->cuPointerGetAttribute = [](void* data, CUpointer_attribute attribute, CUdeviceptr pointer) {
      if (fake().fails("cuPointerGetAttribute")) return CUDA_ERROR_UNKNOWN;
      void* base = nullptr;
      size_t bytes = 0;
      bool pinned = false;
      if (!fake().find(pointer, &base, &bytes, &pinned)) return CUDA_ERROR_INVALID_VALUE;
      if (attribute == CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL) *static_cast<int*>(data) = fake().pointer_device;
      else if (attribute == CU_POINTER_ATTRIBUTE_MEMORY_TYPE)
        *static_cast<unsigned int*>(data) = pinned ? CU_MEMORYTYPE_HOST : CU_MEMORYTYPE_DEVICE;
      else return CUDA_ERROR_INVALID_VALUE;
      return CUDA_SUCCESS;
    };
    d->cuMemGetAddressRange = [](CUdeviceptr* base, size_t* bytes, CUdeviceptr pointer) {
      if (fake().fails("cuMemGetAddressRange")) return CUDA_ERROR_UNKNOWN;
      void* start = nullptr;
      bool pinned = false;
      if (!fake().find(pointer, &start, bytes, &pinned)) return CUDA_ERROR_NOT_FOUND;
      *base = CUdeviceptr(start);
      return CUDA_SUCCESS;
    };
    d->cuStreamIsCapturing = [](CUstream, CUstreamCaptureStatus* status) {
      *status = fake().capturing_ ? CU_STREAM_CAPTURE_STATUS_ACTIVE : CU_STREAM_CAPTURE_STATUS_NONE;
      return fake().result("cuStreamIsCapturing");
    };
    d->cuCtxSynchronize = []() { return fake().result("cuCtxSynchronize"); };
    d->cuFuncGetParamInfo = nullptr;  // optional: an older driver
    return d;
  }

 private:
  static FakeCudaDriver*& current() {
    static FakeCudaDriver* instance = nullptr;
    return instance;
  }
  static FakeCudaDriver& fake() { return *current(); }

  bool fails(const char* name) {
    ++calls_[name];
    if (!fail_only.empty() && fail_only != name) return false;
    if (++counted_ != fail_call) return false;
    ++failures_;
    return true;
  }
  CUresult result(const char* name) { return fails(name) ? CUDA_ERROR_UNKNOWN : CUDA_SUCCESS; }

  void* allocate(size_t bytes, bool pinned) {
    void* p = std::calloc(1, bytes ? bytes : 1);
    memory_[p] = pinned;
    sizes_[p] = bytes ? bytes : 1;
    return p;
  }
  // The allocation holding `pointer`, if any.
  bool find(CUdeviceptr pointer, void** base, size_t* bytes, bool* pinned) const {
    for (const auto& entry : sizes_) {
      const CUdeviceptr start = CUdeviceptr(entry.first);
      if (pointer >= start && pointer < start + entry.second) {
        *base = entry.first, *bytes = entry.second, *pinned = memory_.at(entry.first);
        return true;
      }
    }
    return false;
  }
  CUresult release(void* p, bool pinned) {
    auto it = memory_.find(p);
    if (it == memory_.end() || it->second != pinned) {  // a double or mismatched free
      ++bad_frees_;
      return CUDA_ERROR_INVALID_VALUE;
    }
    memory_.erase(it);  // the keys before the memory (gcc's -Wuse-after-free reads the key as a use)
    sizes_.erase(p);
    std::free(p);
    return CUDA_SUCCESS;
  }
  void enqueue(std::function<void()> op) {
    if (capturing_) captured_.push_back(std::move(op));
    else op();
  }

  std::map<std::string, uint64_t> calls_;
  uint64_t counted_ = 0, failures_ = 0;
  std::map<void*, bool> memory_;  // allocation -> pinned
  std::map<void*, size_t> sizes_;  // allocation -> bytes
  int64_t modules_ = 0, streams_ = 0, events_ = 0, graphs_ = 0, graph_execs_ = 0, contexts_ = 0, bad_frees_ = 0;
  bool capturing_ = false;
  std::vector<std::function<void()>> captured_;
};

}  // namespace test
}  // namespace hsa

#endif  // HSA_RUNTIME_TESTS_FAKE_CUDA_DRIVER_H
