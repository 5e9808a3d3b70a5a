#include "cuda_backend.h"

#include <cstring>
#include <map>

#include "cuda_driver.h"
#include "expression.h"

namespace hsa {
using namespace artifact;

namespace {

constexpr size_t kDefaultSharedLimit = 48 * 1024;  // above this a kernel must opt in

// Pinned host memory mapped into the device address space.
class PinnedHostAllocator : public HostAllocator {
 public:
  explicit PinnedHostAllocator(const CudaDriver* driver) : driver_(driver) {}
  Status allocate(size_t bytes, void** host) override {
    HSA_RETURN_IF_ERROR(driver_->check(
        driver_->cuMemHostAlloc(host, bytes ? bytes : 1, CU_MEMHOSTALLOC_DEVICEMAP | CU_MEMHOSTALLOC_PORTABLE),
        "cuMemHostAlloc(" + std::to_string(bytes) + " bytes, mapped)"));
    CUdeviceptr device = 0;
    Status status = driver_->check(driver_->cuMemHostGetDevicePointer(&device, *host, 0), "cuMemHostGetDevicePointer");
    if (!status.is_ok()) {
      driver_->cuMemFreeHost(*host);
      return status;
    }
    device_of_[*host] = uint64_t(device);
    return Status::ok();
  }
  void release(void* host) override {
    device_of_.erase(host);
    driver_->cuMemFreeHost(host);
  }
  uint64_t device_address(const void* host) const override {
    auto it = device_of_.find(const_cast<void*>(host));
    return it == device_of_.end() ? 0 : it->second;
  }

 private:
  const CudaDriver* driver_;
  std::map<void*, uint64_t> device_of_;
};

// A launch with everything evaluated: symbols are fixed once the artifact is loaded.
struct PreparedLaunch {
  std::string kernel;
  CUfunction function = nullptr;
  unsigned grid[3] = {1, 1, 1}, block[3] = {1, 1, 1};
  unsigned shared_bytes = 0;
  std::vector<uint64_t> arg_storage;  // one 8-byte cell per parameter (i32 uses the low half)
  std::vector<void*> params;
};

struct DeviceBuffer {
  std::string name;
  CUdeviceptr address = 0;
  uint64_t bytes = 0;
  bool owned = false;  // allocated here (device tier) vs bound host pool
  bool per_slot = false;
  bool starts_at_minus_one = false;
};

bool starts_at_minus_one(const std::string& name) {
  for (const char* n : {"buf.slot_unit", "buf.last_used", "buf.unit_slot", "req.page_of", "sel.units", "sel.slots", "sel.copy_units", "sel.copy_slots"})
    if (name == n) return true;
  return false;
}

class CudaBackend : public Backend {
 public:
  CudaBackend(std::unique_ptr<CudaDriver> driver, const RuntimeOptions& options)
      : driver_(std::move(driver)), options_(options), allocator_(driver_.get()) {}
  ~CudaBackend() override;

  Status initialize();
  const char* name() const override { return "cuda"; }
  HostAllocator* host_allocator() override { return &allocator_; }
  Status prepare(const Artifact& artifact, const LayerShape& shape, HostCache* cache) override;
  Status reset_slot(uint32_t slot) override;
  Status after_prefill(uint32_t slot, uint32_t old_length) override;
  Status after_append(const uint32_t* slots, size_t count, const uint16_t* new_k, const uint16_t* new_v) override;
  Status decode(const uint32_t* slots, size_t count, const uint16_t* q, uint16_t* o, SlotStepResult* results) override;
  Status selected_units(uint32_t slot, int32_t* units) override;
  const std::vector<KernelTiming>* kernel_timings() const override {
    return options_.profile_kernels ? &timings_ : nullptr;
  }

 private:
  Status check(CUresult r, const std::string& what) const { return driver_->check(r, what); }
  Status load_kernels(const Artifact& artifact, std::vector<CUfunction>* functions);
  Status bind_buffers(const Artifact& artifact);
  Status prepare_plan(const Artifact& artifact, const std::vector<CUfunction>& functions, const char* plan_name,
                      std::vector<PreparedLaunch>* out);
  Status allocate_staging(void** host, size_t bytes);
  const DeviceBuffer* buffer(const char* name) const;
  // Uploads req.length (`lengths`, 0 = not in this call) and req.step.
  Status enqueue_request_state();
  Status enqueue_copy_to(const char* buffer_name, const void* host, size_t bytes);
  Status enqueue_copy_from(const char* buffer_name, void* host, size_t bytes);
  Status enqueue_plan(const std::vector<PreparedLaunch>& plan, bool timed);
  Status enqueue_decode_sequence(bool timed);
  Status synchronize() { return check(driver_->cuStreamSynchronize(stream_), "cuStreamSynchronize"); }

  std::unique_ptr<CudaDriver> driver_;
  RuntimeOptions options_;
  PinnedHostAllocator allocator_;
  CUdevice device_ = 0;
  CUcontext context_ = nullptr;
  CUstream stream_ = nullptr;
  int cc_major_ = 0, cc_minor_ = 0;
  LayerShape shape_;
  HostCache* cache_ = nullptr;
  std::vector<CUmodule> modules_;
  std::vector<DeviceBuffer> buffers_;
  std::vector<PreparedLaunch> decode_plan_, append_plan_, prefill_plan_;
  std::vector<int32_t> steps_;
  // Pinned staging areas, laid out like the device buffers they feed.
  int32_t* stage_length_ = nullptr;
  int32_t* stage_step_ = nullptr;
  uint16_t *stage_q_ = nullptr, *stage_o_ = nullptr, *stage_new_k_ = nullptr, *stage_new_v_ = nullptr;
  int32_t *stage_copy_count_ = nullptr, *stage_units_ = nullptr;
  std::vector<void*> staging_;
  CUgraph graph_ = nullptr;
  CUgraphExec graph_exec_ = nullptr;
  std::vector<KernelTiming> timings_;
};

CudaBackend::~CudaBackend() {
  if (context_) driver_->cuCtxSetCurrent(context_);
  if (stream_) driver_->cuStreamSynchronize(stream_);
  if (graph_exec_) driver_->cuGraphExecDestroy(graph_exec_);
  if (graph_) driver_->cuGraphDestroy(graph_);
  for (void* p : staging_) allocator_.release(p);
  for (const DeviceBuffer& b : buffers_)
    if (b.owned && b.address) driver_->cuMemFree(b.address);
  for (CUmodule m : modules_) driver_->cuModuleUnload(m);
  if (stream_) driver_->cuStreamDestroy(stream_);
  if (context_) driver_->cuDevicePrimaryCtxRelease(device_);
}

Status CudaBackend::initialize() {
  const CUresult init = driver_->cuInit(0);
  if (init != CUDA_SUCCESS) {
    Status s = check(init, "cuInit");
    return Status(StatusCode::Unavailable, "the CUDA driver did not initialise (" + s.message() + "): use backend=cpu");
  }
  int count = 0;
  HSA_RETURN_IF_ERROR(check(driver_->cuDeviceGetCount(&count), "cuDeviceGetCount"));
  if (count == 0) return Status(StatusCode::Unavailable, "no CUDA device found: use backend=cpu");
  if (options_.device < 0 || options_.device >= count)
    return Status(StatusCode::InvalidArgument, "CUDA device " + std::to_string(options_.device) + " does not exist (" +
                                                   std::to_string(count) + " found)");
  HSA_RETURN_IF_ERROR(check(driver_->cuDeviceGet(&device_, options_.device), "cuDeviceGet"));
  HSA_RETURN_IF_ERROR(check(driver_->cuDeviceGetAttribute(&cc_major_, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device_),
                            "cuDeviceGetAttribute"));
  HSA_RETURN_IF_ERROR(check(driver_->cuDeviceGetAttribute(&cc_minor_, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device_),
                            "cuDeviceGetAttribute"));
  HSA_RETURN_IF_ERROR(check(driver_->cuDevicePrimaryCtxRetain(&context_, device_), "cuDevicePrimaryCtxRetain"));
  HSA_RETURN_IF_ERROR(check(driver_->cuCtxSetCurrent(context_), "cuCtxSetCurrent"));
  return check(driver_->cuStreamCreate(&stream_, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
}

Status CudaBackend::load_kernels(const Artifact& artifact, std::vector<CUfunction>* functions) {
  ImageChoice choice{};
  HSA_RETURN_IF_ERROR(choose_kernel_images(artifact, cc_major_, cc_minor_, &choice));
  const SymbolValues symbols = shape_.symbols();
  for (const ArtifactKernel& k : artifact.kernels) {
    const bool cubin = choice.use_cubin && !k.cubin.empty();
    const void* image = cubin ? static_cast<const void*>(k.cubin.data()) : static_cast<const void*>(k.ptx.c_str());
    char log[4096] = {0};
    CUjit_option jit_options[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void* jit_values[] = {log, reinterpret_cast<void*>(uintptr_t(sizeof(log)))};
    CUmodule module = nullptr;
    Status status = check(driver_->cuModuleLoadDataEx(&module, image, 2, jit_options, jit_values),
                          "loading kernel '" + k.name + "' from " + (cubin ? "cubin" : "PTX"));
    if (!status.is_ok()) return Status(status.code(), status.message() + (log[0] ? std::string(": ") + log : ""));
    modules_.push_back(module);
    CUfunction function = nullptr;
    HSA_RETURN_IF_ERROR(check(driver_->cuModuleGetFunction(&function, module, k.entry_symbol.c_str()),
                              "kernel '" + k.name + "' entry '" + k.entry_symbol + "'"));
    int64_t max_shared = 0;
    HSA_RETURN_IF_ERROR(evaluate_expression(artifact.code, k.max_dynamic_shared_bytes, symbols,
                                            "kernel '" + k.name + "' max dynamic shared bytes", &max_shared));
    if (max_shared < 0 || max_shared > (int64_t(1) << 30))
      return Status(StatusCode::InvalidArtifact, "kernel '" + k.name + "' max dynamic shared bytes " + std::to_string(max_shared));
    if (size_t(max_shared) > kDefaultSharedLimit)
      HSA_RETURN_IF_ERROR(check(driver_->cuFuncSetAttribute(function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                                            int(max_shared)),
                                "kernel '" + k.name + "' needs " + std::to_string(max_shared) + " B dynamic shared memory"));
    functions->push_back(function);
  }
  return Status::ok();
}

Status CudaBackend::bind_buffers(const Artifact& artifact) {
  const SymbolValues symbols = shape_.symbols();
  for (const ArtifactBuffer& b : artifact.buffers) {
    DeviceBuffer d;
    d.name = b.name;
    d.per_slot = b.scope == BufferScope::PerBatchSlot;
    d.starts_at_minus_one = starts_at_minus_one(b.name);
    std::vector<int64_t> dims;
    HSA_RETURN_IF_ERROR(evaluate_buffer_dims(artifact, b, symbols, &dims, &d.bytes));
    if (b.tier == Tier::Host) {  // the loader admits only the documented host buffers
      const void* host = b.name == "host.k" ? static_cast<const void*>(cache_->host_k())
                         : b.name == "host.v" ? static_cast<const void*>(cache_->host_v())
                                              : static_cast<const void*>(cache_->host_page_of());
      d.address = CUdeviceptr(allocator_.device_address(host));
    } else if (d.bytes > 0) {
      HSA_RETURN_IF_ERROR(check(driver_->cuMemAlloc(&d.address, d.bytes),
                                "cuMemAlloc for '" + b.name + "' (" + std::to_string(d.bytes) + " bytes)"));
      d.owned = true;
      HSA_RETURN_IF_ERROR(check(driver_->cuMemsetD8Async(d.address, d.starts_at_minus_one ? 0xff : 0, d.bytes, stream_),
                                "clearing '" + b.name + "'"));
    }
    buffers_.push_back(d);
  }
  return synchronize();
}

Status CudaBackend::prepare_plan(const Artifact& artifact, const std::vector<CUfunction>& functions,
                                 const char* plan_name, std::vector<PreparedLaunch>* out) {
  const int index = artifact.find_plan(plan_name);
  if (index < 0)
    return Status(StatusCode::InvalidArtifact, std::string("the CUDA backend needs a '") + plan_name +
                                                   "' launch plan and the artifact has none");
  const SymbolValues symbols = shape_.symbols();
  const ArtifactPlan& plan = artifact.plans[index];
  for (size_t i = 0; i < plan.launches.size(); ++i) {
    const ArtifactLaunch& l = plan.launches[i];
    const ArtifactKernel& kernel = artifact.kernels[l.kernel];
    const std::string where = std::string("plan '") + plan_name + "' launch " + std::to_string(i) + " ('" + kernel.name + "')";
    PreparedLaunch p;
    p.kernel = kernel.name;
    p.function = functions[l.kernel];
    const int64_t grid_limit[3] = {INT32_MAX, 65535, 65535}, block_limit[3] = {1024, 1024, 64};
    int64_t threads = 1;
    for (int d = 0; d < 3; ++d) {
      int64_t g = 0, b = 0;
      HSA_RETURN_IF_ERROR(evaluate_expression(artifact.code, l.grid[d], symbols, where + " grid", &g));
      HSA_RETURN_IF_ERROR(evaluate_expression(artifact.code, l.block[d], symbols, where + " block", &b));
      if (g < 1 || g > grid_limit[d] || b < 1 || b > block_limit[d])
        return Status(StatusCode::InvalidArtifact, where + ": grid/block dimension " + std::string(1, "xyz"[d]) +
                                                       " = " + std::to_string(g) + "/" + std::to_string(b) + " out of range");
      threads *= b;
      p.grid[d] = unsigned(g);
      p.block[d] = unsigned(b);
    }
    if (threads > 1024) return Status(StatusCode::InvalidArtifact, where + ": " + std::to_string(threads) + " threads per block");
    int64_t shared = 0, max_shared = 0;
    HSA_RETURN_IF_ERROR(evaluate_expression(artifact.code, l.dynamic_shared_bytes, symbols, where + " shared bytes", &shared));
    HSA_RETURN_IF_ERROR(evaluate_expression(artifact.code, kernel.max_dynamic_shared_bytes, symbols, where + " max shared", &max_shared));
    if (shared < 0 || shared > max_shared)
      return Status(StatusCode::InvalidArtifact, where + ": dynamic shared bytes " + std::to_string(shared) +
                                                     " exceed the kernel's declared maximum " + std::to_string(max_shared));
    p.shared_bytes = unsigned(shared);
    p.arg_storage.assign(l.args.size(), 0);
    for (size_t a = 0; a < l.args.size(); ++a) {
      const LaunchArgRecord& arg = l.args[a];
      uint64_t& cell = p.arg_storage[a];
      switch (ArgKind(arg.kind)) {
        case ArgKind::BufferPointer: cell = uint64_t(buffers_[arg.index].address); break;
        case ArgKind::SymbolI32: {
          const int32_t v = int32_t(symbols[arg.index]);
          std::memcpy(&cell, &v, sizeof(v));
          break;
        }
        case ArgKind::SymbolI64: std::memcpy(&cell, &symbols[arg.index], 8); break;
        case ArgKind::ImmediateI32: {
          const int32_t v = int32_t(arg.value);
          std::memcpy(&cell, &v, sizeof(v));
          break;
        }
        case ArgKind::ImmediateI64: std::memcpy(&cell, &arg.value, 8); break;
      }
    }
    out->push_back(std::move(p));
  }
  for (PreparedLaunch& p : *out)  // pointers into storage that no longer moves
    for (uint64_t& cell : p.arg_storage) p.params.push_back(&cell);
  return Status::ok();
}

Status CudaBackend::allocate_staging(void** host, size_t bytes) {
  HSA_RETURN_IF_ERROR(allocator_.allocate(bytes, host));
  staging_.push_back(*host);
  std::memset(*host, 0, bytes);
  return Status::ok();
}

Status CudaBackend::prepare(const Artifact& artifact, const LayerShape& shape, HostCache* cache) {
  shape_ = shape;
  cache_ = cache;
  steps_.assign(shape.batch, 0);
  HSA_RETURN_IF_ERROR(check(driver_->cuCtxSetCurrent(context_), "cuCtxSetCurrent"));
  std::vector<CUfunction> functions;
  HSA_RETURN_IF_ERROR(load_kernels(artifact, &functions));
  HSA_RETURN_IF_ERROR(bind_buffers(artifact));
  HSA_RETURN_IF_ERROR(prepare_plan(artifact, functions, "decode_step", &decode_plan_));
  HSA_RETURN_IF_ERROR(prepare_plan(artifact, functions, "append", &append_plan_));
  HSA_RETURN_IF_ERROR(prepare_plan(artifact, functions, "prefill", &prefill_plan_));
  const size_t B = shape.batch;
  void* p = nullptr;
  HSA_RETURN_IF_ERROR(allocate_staging(&p, B * 4)); stage_length_ = static_cast<int32_t*>(p);
  HSA_RETURN_IF_ERROR(allocate_staging(&p, B * 4)); stage_step_ = static_cast<int32_t*>(p);
  HSA_RETURN_IF_ERROR(allocate_staging(&p, B * shape.q_heads * shape.head_dim * 2)); stage_q_ = static_cast<uint16_t*>(p);
  HSA_RETURN_IF_ERROR(allocate_staging(&p, B * shape.q_heads * shape.value_dim * 2)); stage_o_ = static_cast<uint16_t*>(p);
  HSA_RETURN_IF_ERROR(allocate_staging(&p, B * shape.kv_heads * shape.head_dim * 2)); stage_new_k_ = static_cast<uint16_t*>(p);
  HSA_RETURN_IF_ERROR(allocate_staging(&p, B * shape.kv_heads * shape.value_dim * 2)); stage_new_v_ = static_cast<uint16_t*>(p);
  HSA_RETURN_IF_ERROR(allocate_staging(&p, B * shape.groups * 4)); stage_copy_count_ = static_cast<int32_t*>(p);
  HSA_RETURN_IF_ERROR(allocate_staging(&p, B * shape.groups * shape.budget * 4)); stage_units_ = static_cast<int32_t*>(p);
  return Status::ok();
}

const DeviceBuffer* CudaBackend::buffer(const char* name) const {
  for (const DeviceBuffer& b : buffers_)
    if (b.name == name) return &b;
  return nullptr;
}

Status CudaBackend::enqueue_copy_to(const char* name, const void* host, size_t bytes) {
  const DeviceBuffer* b = buffer(name);
  if (!b || b->bytes < bytes) return Status(StatusCode::Internal, std::string("buffer '") + name + "' missing or too small");
  return check(driver_->cuMemcpyHtoDAsync(b->address, host, bytes, stream_), std::string("upload of '") + name + "'");
}

Status CudaBackend::enqueue_copy_from(const char* name, void* host, size_t bytes) {
  const DeviceBuffer* b = buffer(name);
  if (!b || b->bytes < bytes) return Status(StatusCode::Internal, std::string("buffer '") + name + "' missing or too small");
  return check(driver_->cuMemcpyDtoHAsync(host, b->address, bytes, stream_), std::string("download of '") + name + "'");
}

Status CudaBackend::enqueue_request_state() {
  HSA_RETURN_IF_ERROR(enqueue_copy_to("req.length", stage_length_, shape_.batch * 4));
  return enqueue_copy_to("req.step", stage_step_, shape_.batch * 4);
}

Status CudaBackend::enqueue_plan(const std::vector<PreparedLaunch>& plan, bool timed) {
  for (const PreparedLaunch& l : plan) {
    CUevent start = nullptr, stop = nullptr;
    if (timed) {
      HSA_RETURN_IF_ERROR(check(driver_->cuEventCreate(&start, CU_EVENT_DEFAULT), "cuEventCreate"));
      HSA_RETURN_IF_ERROR(check(driver_->cuEventCreate(&stop, CU_EVENT_DEFAULT), "cuEventCreate"));
      HSA_RETURN_IF_ERROR(check(driver_->cuEventRecord(start, stream_), "cuEventRecord"));
    }
    HSA_RETURN_IF_ERROR(check(driver_->cuLaunchKernel(l.function, l.grid[0], l.grid[1], l.grid[2], l.block[0], l.block[1],
                                                      l.block[2], l.shared_bytes, stream_,
                                                      const_cast<void**>(l.params.data()), nullptr),
                              "launch of kernel '" + l.kernel + "'"));
    if (timed) {
      HSA_RETURN_IF_ERROR(check(driver_->cuEventRecord(stop, stream_), "cuEventRecord"));
      HSA_RETURN_IF_ERROR(check(driver_->cuEventSynchronize(stop), "cuEventSynchronize"));
      float ms = 0;
      HSA_RETURN_IF_ERROR(check(driver_->cuEventElapsedTime(&ms, start, stop), "cuEventElapsedTime"));
      timings_.push_back(KernelTiming{l.kernel, ms});
      driver_->cuEventDestroy(start);
      driver_->cuEventDestroy(stop);
    }
  }
  return Status::ok();
}

Status CudaBackend::enqueue_decode_sequence(bool timed) {
  const size_t B = shape_.batch;
  HSA_RETURN_IF_ERROR(enqueue_request_state());
  HSA_RETURN_IF_ERROR(enqueue_copy_to("io.q", stage_q_, B * shape_.q_heads * shape_.head_dim * 2));
  HSA_RETURN_IF_ERROR(enqueue_plan(decode_plan_, timed));
  HSA_RETURN_IF_ERROR(enqueue_copy_from("io.o", stage_o_, B * shape_.q_heads * shape_.value_dim * 2));
  HSA_RETURN_IF_ERROR(enqueue_copy_from("sel.copy_count", stage_copy_count_, B * shape_.groups * 4));
  return enqueue_copy_from("sel.units", stage_units_, B * shape_.groups * shape_.budget * 4);
}

Status CudaBackend::decode(const uint32_t* slots, size_t count, const uint16_t* q, uint16_t* o, SlotStepResult* results) {
  HSA_RETURN_IF_ERROR(check(driver_->cuCtxSetCurrent(context_), "cuCtxSetCurrent"));
  const size_t row_q = size_t(shape_.q_heads) * shape_.head_dim, row_o = size_t(shape_.q_heads) * shape_.value_dim;
  std::memset(stage_length_, 0, shape_.batch * 4);  // slots outside this call look free to the kernels
  for (size_t i = 0; i < count; ++i) {
    stage_length_[slots[i]] = int32_t(cache_->length(slots[i]));
    std::memcpy(stage_q_ + slots[i] * row_q, q + i * row_q, row_q * 2);
  }
  for (uint32_t b = 0; b < shape_.batch; ++b) stage_step_[b] = steps_[b];
  timings_.clear();
  if (options_.use_cuda_graph) {
    if (!graph_exec_) {  // the staging addresses never change: capture once, replay every step
      HSA_RETURN_IF_ERROR(check(driver_->cuStreamBeginCapture(stream_, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
                                "cuStreamBeginCapture"));
      Status captured = enqueue_decode_sequence(false);
      CUgraph graph = nullptr;
      const CUresult end = driver_->cuStreamEndCapture(stream_, &graph);
      HSA_RETURN_IF_ERROR(captured);
      HSA_RETURN_IF_ERROR(check(end, "cuStreamEndCapture"));
      graph_ = graph;
      HSA_RETURN_IF_ERROR(check(driver_->cuGraphInstantiate(&graph_exec_, graph_, 0), "cuGraphInstantiate"));
    }
    HSA_RETURN_IF_ERROR(check(driver_->cuGraphLaunch(graph_exec_, stream_), "cuGraphLaunch"));
  } else {
    HSA_RETURN_IF_ERROR(enqueue_decode_sequence(options_.profile_kernels));
  }
  HSA_RETURN_IF_ERROR(synchronize());
  for (size_t i = 0; i < count; ++i) {
    const uint32_t b = slots[i];
    std::memcpy(o + i * row_o, stage_o_ + b * row_o, row_o * 2);
    SlotStepResult r;
    for (uint32_t g = 0; g < shape_.groups; ++g) {
      const size_t gi = size_t(b) * shape_.groups + g;
      r.misses += uint64_t(stage_copy_count_[gi]);
      for (uint32_t k = 0; k < shape_.budget; ++k) r.units_selected += stage_units_[gi * shape_.budget + k] >= 0;
    }
    results[i] = r;
    steps_[b] += 1;
  }
  return Status::ok();
}

Status CudaBackend::after_append(const uint32_t* slots, size_t count, const uint16_t* new_k, const uint16_t* new_v) {
  HSA_RETURN_IF_ERROR(check(driver_->cuCtxSetCurrent(context_), "cuCtxSetCurrent"));
  const size_t row_k = size_t(shape_.kv_heads) * shape_.head_dim, row_v = size_t(shape_.kv_heads) * shape_.value_dim;
  std::memset(stage_length_, 0, shape_.batch * 4);
  for (size_t i = 0; i < count; ++i) {
    // The token at req.length (the host cache already counts it) is the one to append.
    stage_length_[slots[i]] = int32_t(cache_->length(slots[i]) - 1);
    std::memcpy(stage_new_k_ + slots[i] * row_k, new_k + i * row_k, row_k * 2);
    if (shape_.has_separate_v) std::memcpy(stage_new_v_ + slots[i] * row_v, new_v + i * row_v, row_v * 2);
  }
  for (uint32_t b = 0; b < shape_.batch; ++b) stage_step_[b] = steps_[b];
  HSA_RETURN_IF_ERROR(enqueue_request_state());
  HSA_RETURN_IF_ERROR(enqueue_copy_to("io.new_k", stage_new_k_, shape_.batch * row_k * 2));
  if (shape_.has_separate_v) HSA_RETURN_IF_ERROR(enqueue_copy_to("io.new_v", stage_new_v_, shape_.batch * row_v * 2));
  HSA_RETURN_IF_ERROR(enqueue_plan(append_plan_, false));
  return synchronize();
}

Status CudaBackend::after_prefill(uint32_t slot, uint32_t old_length) {
  HSA_RETURN_IF_ERROR(check(driver_->cuCtxSetCurrent(context_), "cuCtxSetCurrent"));
  // Drop resident copies of the units the prefill wrote (the next step re-gathers them).
  const DeviceBuffer* slot_unit = buffer("buf.slot_unit");
  const DeviceBuffer* last_used = buffer("buf.last_used");
  const size_t row = size_t(shape_.groups) * shape_.capacity;
  std::vector<int32_t> units(row), used(row);
  const CUdeviceptr offset = CUdeviceptr(size_t(slot) * row * 4);
  HSA_RETURN_IF_ERROR(check(driver_->cuMemcpyDtoHAsync(units.data(), slot_unit->address + offset, row * 4, stream_), "download of 'buf.slot_unit'"));
  HSA_RETURN_IF_ERROR(check(driver_->cuMemcpyDtoHAsync(used.data(), last_used->address + offset, row * 4, stream_), "download of 'buf.last_used'"));
  HSA_RETURN_IF_ERROR(synchronize());
  const int32_t first = int32_t(old_length / shape_.page_size);
  // The reverse map must forget the dropped units too: store_kv trusts it.
  const DeviceBuffer* unit_slot = buffer("buf.unit_slot");
  const size_t max_units = unit_slot ? unit_slot->bytes / (size_t(shape_.batch) * shape_.groups * 4) : 0;
  for (size_t c = 0; c < row; ++c) {
    if (units[c] < first) continue;
    if (unit_slot && size_t(units[c]) < max_units) {
      const size_t group = c / shape_.capacity;
      const int32_t none = -1;
      const CUdeviceptr at = unit_slot->address + CUdeviceptr(((size_t(slot) * shape_.groups + group) * max_units + size_t(units[c])) * 4);
      HSA_RETURN_IF_ERROR(check(driver_->cuMemcpyHtoDAsync(at, &none, 4, stream_), "reset of 'buf.unit_slot'"));
      HSA_RETURN_IF_ERROR(synchronize());
    }
    units[c] = used[c] = -1;
  }
  HSA_RETURN_IF_ERROR(check(driver_->cuMemcpyHtoDAsync(slot_unit->address + offset, units.data(), row * 4, stream_), "upload of 'buf.slot_unit'"));
  HSA_RETURN_IF_ERROR(check(driver_->cuMemcpyHtoDAsync(last_used->address + offset, used.data(), row * 4, stream_), "upload of 'buf.last_used'"));
  std::memset(stage_length_, 0, shape_.batch * 4);
  stage_length_[slot] = int32_t(cache_->length(slot));
  for (uint32_t b = 0; b < shape_.batch; ++b) stage_step_[b] = steps_[b];
  HSA_RETURN_IF_ERROR(enqueue_request_state());
  HSA_RETURN_IF_ERROR(enqueue_plan(prefill_plan_, false));
  return synchronize();  // also keeps `units`/`used` alive until the uploads finished
}

Status CudaBackend::reset_slot(uint32_t slot) {
  HSA_RETURN_IF_ERROR(check(driver_->cuCtxSetCurrent(context_), "cuCtxSetCurrent"));
  for (const DeviceBuffer& b : buffers_) {
    if (!b.owned || !b.per_slot) continue;
    const size_t row = b.bytes / shape_.batch;
    HSA_RETURN_IF_ERROR(check(driver_->cuMemsetD8Async(b.address + CUdeviceptr(slot * row), b.starts_at_minus_one ? 0xff : 0,
                                                       row, stream_),
                              "resetting '" + b.name + "'"));
  }
  steps_[slot] = 0;
  return synchronize();
}

Status CudaBackend::selected_units(uint32_t slot, int32_t* units) {
  HSA_RETURN_IF_ERROR(check(driver_->cuCtxSetCurrent(context_), "cuCtxSetCurrent"));
  const size_t row = size_t(shape_.groups) * shape_.budget;
  HSA_RETURN_IF_ERROR(check(driver_->cuMemcpyDtoHAsync(units, buffer("sel.units")->address + CUdeviceptr(slot * row * 4),
                                                       row * 4, stream_),
                            "download of 'sel.units'"));
  return synchronize();
}

}  // namespace

Status create_cuda_backend(const RuntimeOptions& options, std::unique_ptr<Backend>* out) {
  std::unique_ptr<CudaDriver> driver;
  HSA_RETURN_IF_ERROR(CudaDriver::load(options.cuda_driver_path.empty() ? "libcuda.so.1" : options.cuda_driver_path, &driver));
  std::unique_ptr<CudaBackend> backend(new CudaBackend(std::move(driver), options));
  HSA_RETURN_IF_ERROR(backend->initialize());
  *out = std::move(backend);
  return Status::ok();
}

}  // namespace hsa
