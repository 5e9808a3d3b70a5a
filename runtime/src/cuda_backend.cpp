#include "cuda_backend.h"

#include <cstdio>
#include <cstring>
#include <functional>
#include <map>

#include "cuda_driver.h"
#include "expression.h"
#include "launch_plan.h"
#include "telemetry.h"

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
    try {
      device_of_[*host] = uint64_t(device);
    } catch (...) {  // no memory for the map entry: do not leak the pinned block
      driver_->cuMemFreeHost(*host);
      throw;
    }
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
  EvaluatedLaunch launch;  // grid, block, shared bytes, one 8-byte cell per parameter
  std::vector<void*> params;  // &launch.cells[i]: what cuLaunchKernel reads
};

struct DeviceBuffer {
  std::string name;
  CUdeviceptr address = 0;
  uint64_t bytes = 0;
  bool owned = false;  // allocated here (device tier, bytes > 0)
  bool host_tier = false;  // bound to the host pool
  bool per_slot = false;
  uint8_t fill = 0;  // the artifact's flag: 0xFF (kBufferFlagFillMinusOne) or 0x00
};

class CudaBackend : public Backend {
 public:
  CudaBackend(std::unique_ptr<CudaDriver> driver, const RuntimeOptions& options)
      : driver_(std::move(driver)), options_(options), allocator_(driver_.get()) {}
  ~CudaBackend() override;

  Status initialize();
  const char* name() const override { return "cuda"; }
  HostAllocator* host_allocator() override { return &allocator_; }
  Status memory_needs(const Artifact& artifact, const LayerShape& shape, MemoryNeeds* needs) override;
  Status prepare(const Artifact& artifact, const LayerShape& shape, HostCache* cache) override;
  Status reset_slot(uint32_t slot) override;
  Status after_prefill(uint32_t slot, uint32_t old_length) override;
  Status after_append(const uint32_t* slots, size_t count, const void* new_k, const void* new_v,
                      const StepInputRows& inputs) override;
  Status decode(const uint32_t* slots, size_t count, const uint16_t* q, uint16_t* o, SlotStepResult* results,
                const StepInputRows& inputs) override;
  Status selected_units(uint32_t slot, int32_t* units) override;
  Status telemetry(uint32_t slot, RequestTelemetry* out) override;
  Status enqueue_step_report(void* stream) override;
  Status step_report_ready(bool* ready) override;
  Status step_report_results(const uint32_t* slots, size_t count, SlotStepResult* results) override;
  Status step_report_telemetry(uint32_t slot, RequestTelemetry* out) override;
  const std::vector<KernelTiming>* kernel_timings() const override {
    return options_.profile_kernels ? &timings_ : nullptr;
  }
  Status read_buffer(const std::string& name, void* dst, size_t bytes) override;
  Status write_buffer(const std::string& name, const void* src, size_t bytes) override;
  int32_t request_step(uint32_t slot) const override { return steps_[slot]; }
  Status begin_device_step(const uint32_t* slots, size_t count, bool append, void* stream) override;
  Status enqueue_device_append(const void* new_k, const void* new_v, void* stream, const StepInputRows& inputs) override;
  Status enqueue_device_decode(const void* q, void* o, float* lse, void* stream, const StepInputRows& inputs) override;
  Status device_step_results(const uint32_t* slots, size_t count, SlotStepResult* results) override;
  Status drain_device_work() override;
  Status enqueue_device_prefill(uint32_t slot, uint32_t first, uint32_t tokens, const void* k, const void* v,
                                void* stream, const StepInputRows& inputs) override;
  Status device_buffer_address(const std::string& name, uint64_t* address, uint64_t* bytes) const override {
    const DeviceBuffer* b = buffer(name.c_str());
    if (!b || b->host_tier) return Status(StatusCode::NotFound, "the artifact has no device buffer '" + name + "'");
    *address = b->address, *bytes = b->bytes;
    return Status::ok();
  }
  std::string device_description() const override { return description_; }
  double last_step_device_ms() const override { return step_ms_; }

 private:
  Status check(CUresult r, const std::string& what) const { return driver_->check(r, what); }
  Status load_kernels(const Artifact& artifact, std::vector<CUfunction>* functions);
  Status bind_buffers(const Artifact& artifact);
  // address_of: a buffer's address for this plan (null: the bound buffers').
  Status prepare_plan(const Artifact& artifact, const std::vector<CUfunction>& functions, const char* plan_name,
                      std::vector<PreparedLaunch>* out,
                      const std::function<uint64_t(uint32_t)>& address_of = nullptr);
  Status check_parameters(const Artifact& artifact, const PreparedLaunch& launch, const std::string& where) const;
  Status allocate_staging(void** host, size_t bytes);
  const DeviceBuffer* buffer(const char* name) const;
  Status debug_buffer(const std::string& name, size_t bytes, const DeviceBuffer** out) const;
  // Uploads req.length (`lengths`, 0 = not in this call) and req.step.
  Status enqueue_request_state();
  Status enqueue_copy_to(const char* buffer_name, const void* host, size_t bytes);
  Status enqueue_copy_from(const char* buffer_name, void* host, size_t bytes);
  // On `stream`: ours for the host-memory calls, the caller's for the device API
  // (null there is the legacy default stream, not ours).
  Status enqueue_plan(const std::vector<PreparedLaunch>& plan, bool timed, CUstream stream);
  // What the slot's last step did, from the downloaded sel.copy_count / sel.units.
  SlotStepResult staged_slot_result(uint32_t slot) const { return slot_result(stage_copy_count_, stage_units_, slot); }
  SlotStepResult slot_result(const int32_t* copy_count, const int32_t* units, uint32_t slot) const;
  // RequestTelemetry of one slot from its rows of io.lse and the bounds.
  void telemetry_from_rows(const float* lse, const float* head_log_bound, const float* group_log_bound, uint64_t step,
                           RequestTelemetry* out) const;
  Status enqueue_decode_sequence(bool timed);
  Status synchronize() { return check(driver_->cuStreamSynchronize(stream_), "cuStreamSynchronize"); }

  // Device API: a launch plan evaluated over the caller's tensors and the
  // device-resident step state, re-evaluated when the caller's pointers change.
  struct DevicePlan {
    std::vector<PreparedLaunch> launches;
    std::vector<CUdeviceptr> bound;  // the caller pointers it was evaluated with (empty: never)
  };
  Status prepare_device_api();
  Status check_device_stream(void* stream, const char* call, bool may_capture) const;
  Status check_device_tensor(const void* pointer, size_t bytes, const char* call, const char* what) const;
  Status bind_device_plan(const char* plan_name, bool append, const std::vector<std::pair<const char*, CUdeviceptr>>& caller,
                          DevicePlan* plan);

  std::unique_ptr<CudaDriver> driver_;
  RuntimeOptions options_;
  PinnedHostAllocator allocator_;
  CUdevice device_ = 0;
  CUcontext context_ = nullptr;
  CUstream stream_ = nullptr;
  int cc_major_ = 0, cc_minor_ = 0;
  std::string description_ = "CUDA device";
  LayerShape shape_;
  HostCache* cache_ = nullptr;
  std::vector<CUmodule> modules_;
  std::vector<DeviceBuffer> buffers_;
  std::vector<PreparedLaunch> decode_plan_, append_plan_, prefill_plan_;
  std::vector<int32_t> steps_;
  // Pinned staging areas, laid out like the device buffers they feed.
  int32_t* stage_length_ = nullptr;
  int32_t* stage_step_ = nullptr;
  uint16_t *stage_q_ = nullptr, *stage_o_ = nullptr;
  uint8_t *stage_new_k_ = nullptr, *stage_new_v_ = nullptr;  // stored-format rows (fp8 latent rows are bytes)
  int32_t *stage_copy_count_ = nullptr, *stage_units_ = nullptr;
  // Per step input of the algorithm (LayerShape::step_inputs order), its
  // rows [B][row] as the host calls stage them.
  std::vector<uint8_t*> stage_inputs_;
  // The r-th pooled step input (HostCache::pool_rows order).
  const LayerShape::StepInputRow& pooled_input(size_t r) const {
    for (const LayerShape::StepInputRow& row : shape_.step_inputs)
      if (!row.pool.empty() && r-- == 0) return row;
    return shape_.step_inputs.front();  // not reached: the runtime passes one row per pooled input
  }
  // The host calls' input rows into their staging (slot rows), and the
  // staging's copies to the device buffers on the backend's stream.
  void stage_step_inputs(StepKind kind, const uint32_t* slots, size_t count, const StepInputRows& inputs);
  Status enqueue_step_input_copies(StepKind kind);
  // The device calls' inputs as (buffer, pointer) bindings, each checked.
  Status bind_step_inputs(StepKind kind, const StepInputRows& inputs, const char* call,
                          std::vector<std::pair<const char*, CUdeviceptr>>* caller);
  // Where the last decode wrote the LSE: io.lse, or the caller's tensor.
  CUdeviceptr last_lse_ = 0;
  // enqueue_step_report's pinned copies of the last step's counters and
  // telemetry rows, complete when `done` is; `steps` is steps_ at the call.
  struct StepReport {
    int32_t* copy_count = nullptr;  // [B][S]
    int32_t* units = nullptr;       // [B][S][K]
    float* lse = nullptr;           // [B][Hq]
    float* head_bound = nullptr;    // [B][Hq] (the layer has it)
    float* group_bound = nullptr;   // [B][S] (the layer has it)
    std::vector<int32_t> steps;
    CUevent done = nullptr;
    bool enqueued = false;
  } report_;
  std::vector<void*> staging_;
  CUgraph graph_ = nullptr;
  CUgraphExec graph_exec_ = nullptr;
  std::vector<KernelTiming> timings_;
  CUevent step_start_ = nullptr, step_stop_ = nullptr;  // around every decode sequence
  double step_ms_ = -1.0;

  // Device API state. The step state lives in device memory, [append
  // lengths B][decode lengths B][steps B] i32: the device plans read their
  // req.length and req.step there, so a captured graph replays any batch
  // begin_step staged. Staging is a ring of pinned entries, each reused only
  // after the copy that read it ran (its event), so begin_step blocks only
  // when the device is kStepRing steps behind.
  static constexpr size_t kStepRing = 16;
  const Artifact* artifact_ = nullptr;
  std::vector<CUfunction> functions_;
  CUdeviceptr step_state_ = 0;
  int32_t* step_ring_ = nullptr;
  CUevent step_ring_done_[kStepRing] = {};
  bool step_ring_recorded_[kStepRing] = {};
  size_t step_ring_next_ = 0;
  DevicePlan device_append_, device_decode_;
  bool device_used_ = false;
};

CudaBackend::~CudaBackend() {
  if (context_) driver_->cuCtxSetCurrent(context_);
  if (stream_) driver_->cuStreamSynchronize(stream_);
  if (step_start_) driver_->cuEventDestroy(step_start_);
  if (step_stop_) driver_->cuEventDestroy(step_stop_);
  if (graph_exec_) driver_->cuGraphExecDestroy(graph_exec_);
  if (graph_) driver_->cuGraphDestroy(graph_);
  if (device_used_) driver_->cuCtxSynchronize();  // the caller's streams may still read our buffers
  for (CUevent e : step_ring_done_)
    if (e) driver_->cuEventDestroy(e);
  if (report_.done) driver_->cuEventDestroy(report_.done);
  if (step_state_) driver_->cuMemFree(step_state_);
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
  char device_name[256] = {0};
  size_t memory = 0;
  if (driver_->cuDeviceGetName(device_name, sizeof(device_name) - 1, device_) == CUDA_SUCCESS &&
      driver_->cuDeviceTotalMem(&memory, device_) == CUDA_SUCCESS) {
    char text[400];
    std::snprintf(text, sizeof(text), "%s (device %d, sm_%d%d, %.1f GiB)", device_name, options_.device, cc_major_,
                  cc_minor_, double(memory) / double(1ull << 30));
    description_ = text;
  }
  HSA_RETURN_IF_ERROR(check(driver_->cuDevicePrimaryCtxRetain(&context_, device_), "cuDevicePrimaryCtxRetain"));
  HSA_RETURN_IF_ERROR(check(driver_->cuCtxSetCurrent(context_), "cuCtxSetCurrent"));
  return check(driver_->cuStreamCreate(&stream_, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
}

Status CudaBackend::load_kernels(const Artifact& artifact, std::vector<CUfunction>* functions) {
  ImageChoice choice{};
  HSA_RETURN_IF_ERROR(choose_kernel_images(artifact, cc_major_, cc_minor_, &choice));
  const SymbolValues symbols = shape_.symbols();
  // Kernels of one compiled module share its image: load (and JIT) it once.
  std::vector<std::pair<const ArtifactKernel*, CUmodule>> loaded;
  loaded.reserve(artifact.kernels.size());
  modules_.reserve(artifact.kernels.size());  // the push_back after a module load cannot throw
  for (const ArtifactKernel& k : artifact.kernels) {
    const bool cubin = choice.use_cubin && !k.cubin.empty();
    const void* image = cubin ? static_cast<const void*>(k.cubin.data()) : static_cast<const void*>(k.ptx.c_str());
    CUmodule module = nullptr;
    for (const auto& prior : loaded) {
      const bool same = cubin ? (!prior.first->cubin.empty() && prior.first->cubin == k.cubin) : prior.first->ptx == k.ptx;
      if (same && (cubin == (choice.use_cubin && !prior.first->cubin.empty()))) module = prior.second;
    }
    if (!module) {
      char log[4096] = {0};
      CUjit_option jit_options[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
      void* jit_values[] = {log, reinterpret_cast<void*>(uintptr_t(sizeof(log)))};
      Status status = check(driver_->cuModuleLoadDataEx(&module, image, 2, jit_options, jit_values),
                            "loading kernel '" + k.name + "' from " + (cubin ? "cubin" : "PTX"));
      if (!status.is_ok()) return Status(status.code(), status.message() + (log[0] ? std::string(": ") + log : ""));
      modules_.push_back(module);
      loaded.push_back({&k, module});
    }
    CUfunction function = nullptr;
    HSA_RETURN_IF_ERROR(check(driver_->cuModuleGetFunction(&function, module, k.entry_symbol.c_str()),
                              "kernel '" + k.name + "' entry '" + k.entry_symbol + "'"));
    int64_t max_shared = 0;
    HSA_RETURN_IF_ERROR(evaluate_expression(artifact.code, k.max_dynamic_shared_bytes, symbols,
                                            "kernel '" + k.name + "' max dynamic shared bytes", &max_shared));
    if (max_shared < 0 || max_shared > (int64_t(1) << 30))
      return Status(StatusCode::InvalidArtifact, "kernel '" + k.name + "' max dynamic shared bytes " + std::to_string(max_shared));
    // A block may use more than 48 KiB only by opting in, and the driver's
    // condition is on static + dynamic bytes; the opt-in ceiling is the
    // device's (227 KiB on sm_90, 99 KiB on sm_86/89): refused up front.
    int static_shared = 0;
    HSA_RETURN_IF_ERROR(check(driver_->cuFuncGetAttribute(&static_shared, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, function),
                              "kernel '" + k.name + "' static shared memory"));
    const int64_t block_shared = int64_t(static_shared) + max_shared;
    if (size_t(block_shared) > kDefaultSharedLimit) {
      int optin = 0;
      HSA_RETURN_IF_ERROR(check(driver_->cuDeviceGetAttribute(&optin, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
                                                              device_),
                                "cuDeviceGetAttribute(MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)"));
      if (block_shared > int64_t(optin))
        return Status(StatusCode::Unsupported,
                      "kernel '" + k.name + "' needs " + std::to_string(static_shared) + " B static + " +
                          std::to_string(max_shared) + " B dynamic shared memory per block; this device allows " +
                          std::to_string(optin) + " B (compile the layer with a smaller buffer capacity)");
      HSA_RETURN_IF_ERROR(check(driver_->cuFuncSetAttribute(function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                                            int(max_shared)),
                                "kernel '" + k.name + "' needs " + std::to_string(max_shared) + " B dynamic shared memory"));
    }
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
    d.fill = b.fills_minus_one() ? 0xFF : 0x00;
    std::vector<int64_t> dims;
    HSA_RETURN_IF_ERROR(evaluate_buffer_dims(artifact, b, symbols, &dims, &d.bytes));
    d.host_tier = b.tier == Tier::Host;
    if (b.name == "buf.unit_slot" && d.bytes != uint64_t(shape_.batch) * shape_.groups * shape_.max_units * 4)
      return Status(StatusCode::InvalidArtifact, "buf.unit_slot has " + std::to_string(d.bytes) +
                                                     " bytes; the runtime resets it on prefill as [B][S][N] i32 (" +
                                                     std::to_string(uint64_t(shape_.batch) * shape_.groups *
                                                                    shape_.max_units * 4) + " bytes)");
    if (d.host_tier) {  // the loader admits only the documented host buffers
      const void* host = b.name == "host.k"         ? static_cast<const void*>(cache_->host_k())
                         : b.name == "host.v"       ? static_cast<const void*>(cache_->host_v())
                         : b.name == "host.page_of" ? static_cast<const void*>(cache_->host_page_of())
                                                    : cache_->pool_rows(b.name);  // a pooled step input's
      if (!host)
        return Status(StatusCode::InvalidArtifact, "host-tier buffer '" + b.name + "' has no host cache storage");
      d.address = CUdeviceptr(cache_->device_address(host));
    } else if (d.bytes > 0) {
      buffers_.reserve(artifact.buffers.size());  // the push_back below cannot throw after cuMemAlloc
      HSA_RETURN_IF_ERROR(check(driver_->cuMemAlloc(&d.address, d.bytes),
                                "cuMemAlloc for '" + b.name + "' (" + std::to_string(d.bytes) + " bytes)"));
      d.owned = true;
      buffers_.push_back(d);  // owned from here on: the destructor frees it whatever fails next
      HSA_RETURN_IF_ERROR(check(driver_->cuMemsetD8Async(d.address, d.fill, d.bytes, stream_),
                                "filling '" + b.name + "' with " + (d.fill ? "-1" : "0")));
      continue;
    }
    buffers_.push_back(d);
  }
  return synchronize();
}

Status CudaBackend::prepare_plan(const Artifact& artifact, const std::vector<CUfunction>& functions,
                                 const char* plan_name, std::vector<PreparedLaunch>* out,
                                 const std::function<uint64_t(uint32_t)>& address_of) {
  const int index = artifact.find_plan(plan_name);
  if (index < 0)
    return Status(StatusCode::InvalidArtifact, std::string("the CUDA backend needs a '") + plan_name +
                                                   "' launch plan and the artifact has none");
  std::vector<EvaluatedLaunch> evaluated;
  HSA_RETURN_IF_ERROR(evaluate_plan(
      artifact, size_t(index), shape_.symbols(),
      address_of ? address_of : [&](uint32_t buffer) { return uint64_t(buffers_[buffer].address); }, &evaluated));
  out->clear();
  out->resize(evaluated.size());
  for (size_t i = 0; i < evaluated.size(); ++i) {
    PreparedLaunch& p = (*out)[i];
    p.kernel = artifact.kernels[evaluated[i].kernel].name;
    p.function = functions[evaluated[i].kernel];
    p.launch = std::move(evaluated[i]);
    // The cells live in p.launch.cells, which never moves again: `out` is
    // fully sized above and is not resized after this loop.
    for (uint64_t& cell : p.launch.cells) p.params.push_back(&cell);
    HSA_RETURN_IF_ERROR(check_parameters(artifact, p, std::string("plan '") + plan_name + "' launch " +
                                                           std::to_string(i) + " ('" + p.kernel + "')"));
  }
  return Status::ok();
}

// Kernel ABI v2: one launch argument per kernel parameter, of the same size.
// cuFuncGetParamInfo (CUDA 12.4+) reads the kernel's real parameter list, so a
// compiler that forgot to expand a memref descriptor fails here, at load,
// instead of reading garbage. Skipped on drivers without the entry point.
Status CudaBackend::check_parameters(const Artifact& artifact, const PreparedLaunch& p, const std::string& where) const {
  if (!driver_->cuFuncGetParamInfo) return Status::ok();
  const size_t count = p.launch.cells.size();
  for (size_t i = 0; i <= count; ++i) {
    size_t offset = 0, size = 0;
    const CUresult r = driver_->cuFuncGetParamInfo(p.function, i, &offset, &size);
    if (i == count) {
      if (r == CUDA_SUCCESS)
        return Status(StatusCode::InvalidArtifact, where + ": the kernel takes more than the " + std::to_string(count) +
                                                       " parameters the launch passes (kernel ABI v2: one argument "
                                                       "per parameter; memrefs expand to 3 + 2 * rank)");
      break;
    }
    if (r == CUDA_ERROR_INVALID_VALUE)
      return Status(StatusCode::InvalidArtifact, where + ": the launch passes " + std::to_string(count) +
                                                     " arguments but the kernel takes " + std::to_string(i) +
                                                     " parameters (kernel ABI v2: one argument per parameter)");
    if (r != CUDA_SUCCESS && i == 0) return Status::ok();  // this driver cannot describe the kernel: no check
    HSA_RETURN_IF_ERROR(check(r, where + ": cuFuncGetParamInfo"));
    if (size != p.launch.sizes[i])
      return Status(StatusCode::InvalidArtifact, where + ": parameter " + std::to_string(i) + " of the kernel has " +
                                                     std::to_string(size) + " bytes but argument " + std::to_string(i) +
                                                     " is a " + std::to_string(p.launch.sizes[i]) + "-byte value");
  }
  (void)artifact;
  return Status::ok();
}

Status CudaBackend::allocate_staging(void** host, size_t bytes) {
  HSA_RETURN_IF_ERROR(allocator_.allocate(bytes, host));
  staging_.push_back(*host);
  std::memset(*host, 0, bytes);
  return Status::ok();
}

// The pinned staging areas prepare() allocates, in its order: req.length,
// req.step, io.q, io.o, io.new_k, io.new_v, sel.copy_count, sel.units.
// The pinned step report: copy counts, units, LSE and both bounds' rows.
uint64_t report_bytes(const LayerShape& s) {
  const uint64_t B = s.batch;
  return B * s.groups * 4 + B * s.groups * s.budget * 4 + B * s.q_heads * 4 * 2 + B * s.groups * 4;
}

std::vector<size_t> staging_bytes(const LayerShape& shape) {
  const size_t B = shape.batch;
  return {B * 4,
          B * 4,
          B * shape.q_heads * shape.head_dim * shape.act_bytes,
          B * shape.q_heads * shape.value_dim * shape.act_bytes,
          B * shape.kv_heads * shape.key_row_bytes(),
          B * shape.kv_heads * shape.value_row_bytes(),
          B * shape.groups * 4,
          B * shape.groups * shape.budget * 4};
}

// The step inputs' staging rows, after staging_bytes' areas.
std::vector<size_t> input_staging_bytes(const LayerShape& shape) {
  std::vector<size_t> sizes;
  for (const LayerShape::StepInputRow& row : shape.step_inputs) sizes.push_back(size_t(shape.batch) * row.row_bytes);
  return sizes;
}

Status CudaBackend::memory_needs(const Artifact& artifact, const LayerShape& shape, MemoryNeeds* needs) {
  const SymbolValues symbols = shape.symbols();
  for (const ArtifactBuffer& b : artifact.buffers) {
    if (b.tier != Tier::Device) continue;  // host-tier buffers are the host cache's
    std::vector<int64_t> dims;
    uint64_t bytes = 0;
    HSA_RETURN_IF_ERROR(evaluate_buffer_dims(artifact, b, symbols, &dims, &bytes));
    needs->device_buffers.push_back(BufferBytes{b.name, bytes});
  }
  uint64_t staging = 0;
  for (size_t bytes : staging_bytes(shape)) staging += bytes;
  for (size_t bytes : input_staging_bytes(shape)) staging += bytes;
  needs->host_buffers.push_back(BufferBytes{"pinned staging", staging});
  // The device API's step state and its staging ring (prepare_device_api).
  needs->device_buffers.push_back(BufferBytes{"device step state", uint64_t(3) * shape.batch * 4});
  needs->host_buffers.push_back(BufferBytes{"step state ring", uint64_t(3) * shape.batch * 4 * kStepRing});
  needs->host_buffers.push_back(BufferBytes{"step report", report_bytes(shape)});
  HSA_RETURN_IF_ERROR(check(driver_->cuCtxSetCurrent(context_), "cuCtxSetCurrent"));
  size_t free_bytes = 0, total_bytes = 0;
  HSA_RETURN_IF_ERROR(check(driver_->cuMemGetInfo(&free_bytes, &total_bytes), "cuMemGetInfo"));
  needs->device_limited = true;
  needs->device_usable_bytes = usable_device_memory(free_bytes);
  needs->device_name = description_;
  return Status::ok();
}

Status CudaBackend::prepare(const Artifact& artifact, const LayerShape& shape, HostCache* cache) {
  if (options_.telemetry) HSA_RETURN_IF_ERROR(check_telemetry_outputs(shape));
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
  artifact_ = &artifact;  // the runtime keeps the artifact for the backend's life
  functions_ = functions;
  const std::vector<size_t> sizes = staging_bytes(shape);
  void* areas[8] = {};
  staging_.reserve(sizes.size() + shape.step_inputs.size());  // allocate_staging's push_back cannot throw after an allocation
  for (size_t i = 0; i < sizes.size(); ++i) HSA_RETURN_IF_ERROR(allocate_staging(&areas[i], sizes[i]));
  stage_length_ = static_cast<int32_t*>(areas[0]);
  stage_step_ = static_cast<int32_t*>(areas[1]);
  stage_q_ = static_cast<uint16_t*>(areas[2]);
  stage_o_ = static_cast<uint16_t*>(areas[3]);
  stage_new_k_ = static_cast<uint8_t*>(areas[4]);
  stage_new_v_ = static_cast<uint8_t*>(areas[5]);
  stage_copy_count_ = static_cast<int32_t*>(areas[6]);
  stage_units_ = static_cast<int32_t*>(areas[7]);
  for (size_t bytes : input_staging_bytes(shape)) {
    void* area = nullptr;
    HSA_RETURN_IF_ERROR(allocate_staging(&area, bytes));
    stage_inputs_.push_back(static_cast<uint8_t*>(area));
  }
  HSA_RETURN_IF_ERROR(check(driver_->cuEventCreate(&step_start_, CU_EVENT_DEFAULT), "cuEventCreate"));
  HSA_RETURN_IF_ERROR(check(driver_->cuEventCreate(&step_stop_, CU_EVENT_DEFAULT), "cuEventCreate"));
  return prepare_device_api();
}

// ---------------------------------------------------------------------------
// Device API
// ---------------------------------------------------------------------------

Status CudaBackend::prepare_device_api() {
  const size_t bytes = size_t(3) * shape_.batch * 4;
  HSA_RETURN_IF_ERROR(check(driver_->cuMemAlloc(&step_state_, bytes), "cuMemAlloc(device step state)"));
  HSA_RETURN_IF_ERROR(check(driver_->cuMemsetD8Async(step_state_, 0, bytes, stream_), "cuMemsetD8Async"));
  void* ring = nullptr;
  HSA_RETURN_IF_ERROR(allocate_staging(&ring, bytes * kStepRing));
  step_ring_ = static_cast<int32_t*>(ring);
  for (CUevent& e : step_ring_done_)
    HSA_RETURN_IF_ERROR(check(driver_->cuEventCreate(&e, CU_EVENT_DISABLE_TIMING), "cuEventCreate"));
  void* report = nullptr;
  HSA_RETURN_IF_ERROR(allocate_staging(&report, report_bytes(shape_)));
  const size_t B = shape_.batch, S = shape_.groups, Hq = shape_.q_heads;
  report_.copy_count = static_cast<int32_t*>(report);
  report_.units = report_.copy_count + B * S;
  report_.lse = reinterpret_cast<float*>(report_.units + B * S * shape_.budget);
  report_.head_bound = report_.lse + B * Hq;
  report_.group_bound = report_.head_bound + B * Hq;
  HSA_RETURN_IF_ERROR(check(driver_->cuEventCreate(&report_.done, CU_EVENT_DISABLE_TIMING), "cuEventCreate"));
  last_lse_ = buffer("io.lse") ? buffer("io.lse")->address : 0;
  return synchronize();
}

// Copies of the counters and telemetry rows the last step left, on the
// caller's stream into pinned memory; step_report_* read them once the
// stream passed this point (cuEventQuery: nothing waits).
Status CudaBackend::enqueue_step_report(void* stream) {
  HSA_RETURN_IF_ERROR(check(driver_->cuCtxSetCurrent(context_), "cuCtxSetCurrent"));
  HSA_RETURN_IF_ERROR(check_device_stream(stream, "enqueue_step_report", false));
  const CUstream s = static_cast<CUstream>(stream);
  const size_t B = shape_.batch, S = shape_.groups, Hq = shape_.q_heads;
  auto copy = [&](void* dst, CUdeviceptr src, size_t bytes, const char* what) {
    return check(driver_->cuMemcpyDtoHAsync(dst, src, bytes, s), std::string("enqueue_step_report: copy of ") + what);
  };
  HSA_RETURN_IF_ERROR(copy(report_.copy_count, buffer("sel.copy_count")->address, B * S * 4, "sel.copy_count"));
  HSA_RETURN_IF_ERROR(copy(report_.units, buffer("sel.units")->address, B * S * shape_.budget * 4, "sel.units"));
  if (last_lse_) HSA_RETURN_IF_ERROR(copy(report_.lse, last_lse_, B * Hq * 4, "the LSE"));
  if (shape_.head_bound)
    HSA_RETURN_IF_ERROR(copy(report_.head_bound, buffer(kUnselectedLogBoundBuffer)->address, B * Hq * 4,
                             kUnselectedLogBoundBuffer));
  if (shape_.group_bound)
    HSA_RETURN_IF_ERROR(copy(report_.group_bound, buffer(kGroupUnselectedLogBoundBuffer)->address, B * S * 4,
                             kGroupUnselectedLogBoundBuffer));
  HSA_RETURN_IF_ERROR(check(driver_->cuEventRecord(report_.done, s), "cuEventRecord"));
  report_.steps = steps_;
  report_.enqueued = true;
  device_used_ = true;
  return Status::ok();
}

Status CudaBackend::step_report_ready(bool* ready) {
  if (!report_.enqueued)
    return Status(StatusCode::InvalidArgument, "no step report enqueued: call enqueue_step_report after the step");
  HSA_RETURN_IF_ERROR(check(driver_->cuCtxSetCurrent(context_), "cuCtxSetCurrent"));
  const CUresult r = driver_->cuEventQuery(report_.done);
  if (r == CUDA_ERROR_NOT_READY) {
    *ready = false;
    return Status::ok();
  }
  HSA_RETURN_IF_ERROR(check(r, "cuEventQuery"));
  *ready = true;
  return Status::ok();
}

Status CudaBackend::step_report_results(const uint32_t* slots, size_t count, SlotStepResult* results) {
  for (size_t i = 0; i < count; ++i) results[i] = slot_result(report_.copy_count, report_.units, slots[i]);
  return Status::ok();
}

Status CudaBackend::step_report_telemetry(uint32_t slot, RequestTelemetry* out) {
  if (!options_.telemetry)
    return Status(StatusCode::InvalidArgument, "telemetry is off: create the runtime with RuntimeOptions::telemetry");
  if (report_.steps[slot] == 0) return Status(StatusCode::NotFound, "the request had no decode step at the report");
  const size_t Hq = shape_.q_heads, S = shape_.groups;
  telemetry_from_rows(report_.lse + slot * Hq, report_.head_bound + slot * Hq, report_.group_bound + slot * S,
                      uint64_t(report_.steps[slot]), out);
  return Status::ok();
}

Status CudaBackend::check_device_stream(void* stream, const char* call, bool may_capture) const {
  CUcontext context = nullptr;
  const CUresult r = driver_->cuStreamGetCtx(static_cast<CUstream>(stream), &context);
  if (r != CUDA_SUCCESS)
    return Status(StatusCode::InvalidArgument, std::string(call) + ": the stream is not a valid CUDA stream (" +
                                                   check(r, "cuStreamGetCtx").message() + ")");
  if (context != context_)
    return Status(StatusCode::InvalidArgument,
                  std::string(call) + ": the stream belongs to another CUDA context than this runtime's (" +
                      description_ + ", its primary context): create it on that device's primary context");
  if (!may_capture) {
    CUstreamCaptureStatus capture = CU_STREAM_CAPTURE_STATUS_NONE;
    HSA_RETURN_IF_ERROR(check(driver_->cuStreamIsCapturing(static_cast<CUstream>(stream), &capture),
                              "cuStreamIsCapturing"));
    if (capture != CU_STREAM_CAPTURE_STATUS_NONE)
      return Status(StatusCode::InvalidArgument,
                    std::string(call) + ": the stream is capturing a graph; " + call +
                        " is host work (it stages the step's lengths): call it before replaying, outside the "
                        "capture, and capture only enqueue_append and enqueue_decode");
  }
  return Status::ok();
}

Status CudaBackend::check_device_tensor(const void* pointer, size_t bytes, const char* call, const char* what) const {
  if (!pointer) return Status(StatusCode::InvalidArgument, std::string(call) + ": null " + what);
  const CUdeviceptr address = CUdeviceptr(reinterpret_cast<uintptr_t>(pointer));
  int ordinal = -1;
  const CUresult r = driver_->cuPointerGetAttribute(&ordinal, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, address);
  if (r != CUDA_SUCCESS)
    return Status(StatusCode::InvalidArgument,
                  std::string(call) + ": " + what + " is not CUDA device memory (pass a device tensor, or use the "
                                                    "host-memory call)");
  if (ordinal != options_.device)
    return Status(StatusCode::InvalidArgument, std::string(call) + ": " + what + " is on CUDA device " +
                                                   std::to_string(ordinal) + ", this runtime runs on device " +
                                                   std::to_string(options_.device));
  CUdeviceptr base = 0;
  size_t size = 0;
  if (driver_->cuMemGetAddressRange(&base, &size, address) == CUDA_SUCCESS && address + bytes > base + size)
    return Status(StatusCode::InvalidArgument,
                  std::string(call) + ": " + what + " needs " + std::to_string(bytes) + " bytes (slot-indexed, all " +
                      std::to_string(shape_.batch) + " batch slots) but its allocation has " +
                      std::to_string(base + size - address) + " from that address");
  return Status::ok();
}

Status CudaBackend::bind_device_plan(const char* plan_name, bool append,
                                     const std::vector<std::pair<const char*, CUdeviceptr>>& caller, DevicePlan* plan) {
  std::vector<CUdeviceptr> pointers;
  for (const auto& c : caller) pointers.push_back(c.second);
  if (plan->bound == pointers) return Status::ok();
  const CUdeviceptr B4 = CUdeviceptr(shape_.batch) * 4;
  bool reads_host_keys = false;
  std::vector<PreparedLaunch> launches;
  HSA_RETURN_IF_ERROR(prepare_plan(*artifact_, functions_, plan_name, &launches, [&](uint32_t buffer) -> uint64_t {
    const std::string& name = buffers_[buffer].name;
    reads_host_keys = reads_host_keys || name == "host.k";
    if (name == "req.length") return step_state_ + (append ? 0 : B4);
    if (name == "req.step") return step_state_ + 2 * B4;
    for (const auto& c : caller)
      if (name == c.first) return c.second;
    return uint64_t(buffers_[buffer].address);
  }));
  // The device append has no host copy of the token: the plan's kernels must
  // write it to the host pool (store_kv with its host operands).
  if (append && !reads_host_keys)
    return Status(StatusCode::Unsupported,
                  "enqueue_append: this artifact's append plan does not write the host pool (store_kv without "
                  "host/pages operands): recompile the layer with this hsa-compile, or use the host-memory append");
  plan->launches = std::move(launches);  // the launch cells do not move: params stay valid
  plan->bound = pointers;
  return Status::ok();
}

Status CudaBackend::begin_device_step(const uint32_t* slots, size_t count, bool append, void* stream) {
  HSA_RETURN_IF_ERROR(check(driver_->cuCtxSetCurrent(context_), "cuCtxSetCurrent"));
  HSA_RETURN_IF_ERROR(check_device_stream(stream, "begin_step", false));
  const size_t B = shape_.batch, r = step_ring_next_;
  if (step_ring_recorded_[r])  // the copy of kStepRing steps ago must have read this entry
    HSA_RETURN_IF_ERROR(check(driver_->cuEventSynchronize(step_ring_done_[r]), "cuEventSynchronize"));
  int32_t* entry = step_ring_ + r * 3 * B;
  std::memset(entry, 0, 3 * B * 4);  // slots outside the step: length 0, skipped by every kernel
  for (size_t i = 0; i < count; ++i) {
    const uint32_t b = slots[i];
    const int32_t length = int32_t(cache_->length(b));
    if (append) entry[b] = length - 1;  // the appended token's index: the host cache already counts it
    entry[B + b] = length;
  }
  for (uint32_t b = 0; b < B; ++b) entry[2 * B + b] = steps_[b];
  const CUstream s = static_cast<CUstream>(stream);
  HSA_RETURN_IF_ERROR(check(driver_->cuMemcpyHtoDAsync(step_state_, entry, 3 * B * 4, s), "upload of the step state"));
  HSA_RETURN_IF_ERROR(check(driver_->cuEventRecord(step_ring_done_[r], s), "cuEventRecord"));
  step_ring_recorded_[r] = true;
  step_ring_next_ = (r + 1) % kStepRing;
  for (size_t i = 0; i < count; ++i) steps_[slots[i]] += 1;
  device_used_ = true;
  return Status::ok();
}

Status CudaBackend::bind_step_inputs(StepKind kind, const StepInputRows& inputs, const char* call,
                                     std::vector<std::pair<const char*, CUdeviceptr>>* caller) {
  size_t i = 0;
  for (const LayerShape::StepInputRow& row : shape_.step_inputs) {
    if (row.kind != kind) continue;
    const void* data = inputs[i++];
    HSA_RETURN_IF_ERROR(check_device_tensor(data, size_t(shape_.batch) * row.row_bytes, call, row.buffer.c_str()));
    caller->push_back({row.buffer.c_str(), CUdeviceptr(uintptr_t(data))});
  }
  return Status::ok();
}

void CudaBackend::stage_step_inputs(StepKind kind, const uint32_t* slots, size_t count, const StepInputRows& inputs) {
  size_t i = 0;
  for (size_t r = 0; r < shape_.step_inputs.size(); ++r) {
    const LayerShape::StepInputRow& row = shape_.step_inputs[r];
    if (row.kind != kind) continue;
    const uint8_t* rows = static_cast<const uint8_t*>(inputs[i++]);
    for (size_t j = 0; j < count; ++j)
      std::memcpy(stage_inputs_[r] + slots[j] * row.row_bytes, rows + j * row.row_bytes, row.row_bytes);
  }
}

Status CudaBackend::enqueue_step_input_copies(StepKind kind) {
  for (size_t r = 0; r < shape_.step_inputs.size(); ++r) {
    const LayerShape::StepInputRow& row = shape_.step_inputs[r];
    if (row.kind == kind)
      HSA_RETURN_IF_ERROR(enqueue_copy_to(row.buffer.c_str(), stage_inputs_[r], size_t(shape_.batch) * row.row_bytes));
  }
  return Status::ok();
}

Status CudaBackend::enqueue_device_append(const void* new_k, const void* new_v, void* stream,
                                          const StepInputRows& inputs) {
  HSA_RETURN_IF_ERROR(check(driver_->cuCtxSetCurrent(context_), "cuCtxSetCurrent"));
  HSA_RETURN_IF_ERROR(check_device_stream(stream, "enqueue_append", true));
  const size_t B = shape_.batch;
  // Rows in the stored format (an fp8 latent row's bytes: the kernels copy them as they are).
  HSA_RETURN_IF_ERROR(check_device_tensor(new_k, B * shape_.kv_heads * shape_.key_row_bytes(), "enqueue_append", "new_k"));
  std::vector<std::pair<const char*, CUdeviceptr>> caller = {{"io.new_k", CUdeviceptr(uintptr_t(new_k))}};
  if (shape_.has_separate_v) {
    HSA_RETURN_IF_ERROR(
        check_device_tensor(new_v, B * shape_.kv_heads * shape_.value_row_bytes(), "enqueue_append", "new_v"));
    caller.push_back({"io.new_v", CUdeviceptr(uintptr_t(new_v))});
  }
  HSA_RETURN_IF_ERROR(bind_step_inputs(StepKind::Append, inputs, "enqueue_append", &caller));
  HSA_RETURN_IF_ERROR(bind_device_plan("append", true, caller, &device_append_));
  device_used_ = true;
  return enqueue_plan(device_append_.launches, false, static_cast<CUstream>(stream));
}

Status CudaBackend::enqueue_device_decode(const void* q, void* o, float* lse, void* stream,
                                          const StepInputRows& inputs) {
  HSA_RETURN_IF_ERROR(check(driver_->cuCtxSetCurrent(context_), "cuCtxSetCurrent"));
  HSA_RETURN_IF_ERROR(check_device_stream(stream, "enqueue_decode", true));
  const size_t B = shape_.batch;
  HSA_RETURN_IF_ERROR(check_device_tensor(q, B * shape_.q_heads * shape_.head_dim * shape_.act_bytes, "enqueue_decode", "q"));
  HSA_RETURN_IF_ERROR(check_device_tensor(o, B * shape_.q_heads * shape_.value_dim * shape_.act_bytes, "enqueue_decode", "o"));
  std::vector<std::pair<const char*, CUdeviceptr>> caller = {{"io.q", CUdeviceptr(uintptr_t(q))},
                                                             {"io.o", CUdeviceptr(uintptr_t(o))}};
  if (lse) {  // else attention keeps writing the runtime's own io.lse
    HSA_RETURN_IF_ERROR(check_device_tensor(lse, B * shape_.q_heads * 4, "enqueue_decode", "lse"));
    caller.push_back({"io.lse", CUdeviceptr(uintptr_t(lse))});
  }
  HSA_RETURN_IF_ERROR(bind_step_inputs(StepKind::Decode, inputs, "enqueue_decode", &caller));
  HSA_RETURN_IF_ERROR(bind_device_plan("decode_step", false, caller, &device_decode_));
  device_used_ = true;
  last_lse_ = lse ? CUdeviceptr(uintptr_t(lse)) : buffer("io.lse")->address;
  return enqueue_plan(device_decode_.launches, false, static_cast<CUstream>(stream));
}

// The rows go to the host pool by the copy engine, one 3D copy per head and
// run of whole pages that are consecutive in the pool (y: the page's tokens,
// z: pages; the source [tokens][Hkv][D] advances P rows per page, the
// destination host.k [pages][Hkv][P][D] one page), and one per head for a
// partial first or last page. A fresh pool hands out consecutive pages, so a
// prompt takes a few copies per head; a fragmented one up to one per page.
Status CudaBackend::enqueue_device_prefill(uint32_t slot, uint32_t first, uint32_t tokens, const void* k,
                                           const void* v, void* stream, const StepInputRows& inputs) {
  HSA_RETURN_IF_ERROR(check(driver_->cuCtxSetCurrent(context_), "cuCtxSetCurrent"));
  HSA_RETURN_IF_ERROR(check_device_stream(stream, "prefill_device", false));
  // K rows in the stored format, copied as bytes (fp8 latent rows unchecked: docs/RUNTIME.md).
  const size_t Hkv = shape_.kv_heads, P = shape_.page_size;
  const size_t row_k = shape_.key_row_bytes(), row_v = shape_.value_row_bytes();
  HSA_RETURN_IF_ERROR(check_device_tensor(k, size_t(tokens) * Hkv * row_k, "prefill_device", "k"));
  if (shape_.has_separate_v)
    HSA_RETURN_IF_ERROR(check_device_tensor(v, size_t(tokens) * Hkv * row_v, "prefill_device", "v"));
  for (size_t r = 0; r < inputs.size(); ++r)  // the append inputs, each pooled (LayerShape)
    HSA_RETURN_IF_ERROR(check_device_tensor(inputs[r], size_t(tokens) * pooled_input(r).row_bytes, "prefill_device",
                                            pooled_input(r).buffer.c_str()));
  const int32_t* page_of = cache_->host_page_of() + size_t(slot) * shape_.max_units;
  const CUstream s = static_cast<CUstream>(stream);
  // One box: `pages` pool pages from `page`, rows [row, row + rows) of each,
  // from source token `token` on; a pool [pages][heads][P][width bytes].
  auto copy = [&](const void* source, void* pool, size_t heads, size_t width, size_t token, size_t page, size_t row,
                  size_t rows, size_t pages) -> Status {
    for (size_t h = 0; h < heads; ++h) {
      CUDA_MEMCPY3D m{};
      m.srcMemoryType = CU_MEMORYTYPE_DEVICE;
      m.srcDevice = CUdeviceptr(uintptr_t(source)) + CUdeviceptr((token * heads + h) * width);
      m.srcPitch = heads * width;  // next token
      m.srcHeight = P;             // next page: P tokens on
      m.dstMemoryType = CU_MEMORYTYPE_HOST;
      m.dstHost = static_cast<uint8_t*>(pool) + ((page * heads + h) * P + row) * width;
      m.dstPitch = width;          // next row of the page's head
      m.dstHeight = heads * P;     // next page
      m.WidthInBytes = width;
      m.Height = rows;
      m.Depth = pages;
      HSA_RETURN_IF_ERROR(check(driver_->cuMemcpy3DAsync(&m, s), "prefill_device: copy into the host pool"));
    }
    return Status::ok();
  };
  auto copy_rows = [&](const void* source, void* pool, size_t heads, size_t width) -> Status {
    size_t t = first;
    const size_t end = size_t(first) + tokens;
    while (t < end) {
      const size_t unit = t / P, row = t % P, rows = std::min(P - row, end - t);
      size_t pages = 1;
      if (row == 0 && rows == P)  // extend over whole pages consecutive in the pool
        while (t + (pages + 1) * P <= end && page_of[unit + pages] == page_of[unit] + int32_t(pages)) ++pages;
      HSA_RETURN_IF_ERROR(copy(source, pool, heads, width, t - first, size_t(page_of[unit]), row, rows, pages));
      t += pages == 1 ? rows : pages * P;
    }
    return Status::ok();
  };
  HSA_RETURN_IF_ERROR(copy_rows(k, cache_->host_k_bytes(), Hkv, row_k));
  if (shape_.has_separate_v) HSA_RETURN_IF_ERROR(copy_rows(v, cache_->host_v(), Hkv, row_v));
  for (size_t r = 0; r < inputs.size(); ++r)
    HSA_RETURN_IF_ERROR(copy_rows(inputs[r], cache_->pool_rows()[r], 1, pooled_input(r).row_bytes));
  device_used_ = true;  // host readers of the pool drain first
  return Status::ok();
}

Status CudaBackend::drain_device_work() {
  if (!device_used_) return Status::ok();
  HSA_RETURN_IF_ERROR(check(driver_->cuCtxSetCurrent(context_), "cuCtxSetCurrent"));
  // Every stream of the context: a graph the caller replays is unknown here.
  return check(driver_->cuCtxSynchronize(), "cuCtxSynchronize (waiting for device-API work)");
}

Status CudaBackend::device_step_results(const uint32_t* slots, size_t count, SlotStepResult* results) {
  HSA_RETURN_IF_ERROR(drain_device_work());
  const size_t B = shape_.batch;
  HSA_RETURN_IF_ERROR(enqueue_copy_from("sel.copy_count", stage_copy_count_, B * shape_.groups * 4));
  HSA_RETURN_IF_ERROR(enqueue_copy_from("sel.units", stage_units_, B * shape_.groups * shape_.budget * 4));
  HSA_RETURN_IF_ERROR(synchronize());
  for (size_t i = 0; i < count; ++i) results[i] = staged_slot_result(slots[i]);
  return Status::ok();
}

SlotStepResult CudaBackend::slot_result(const int32_t* copy_count, const int32_t* units, uint32_t slot) const {
  SlotStepResult r;
  for (uint32_t g = 0; g < shape_.groups; ++g) {
    const size_t gi = size_t(slot) * shape_.groups + g;
    r.misses += uint64_t(copy_count[gi]);
    for (uint32_t k = 0; k < shape_.budget; ++k) r.units_selected += units[gi * shape_.budget + k] >= 0;
  }
  return r;
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

Status CudaBackend::enqueue_plan(const std::vector<PreparedLaunch>& plan, bool timed, CUstream stream) {
  for (const PreparedLaunch& l : plan) {
    // The launch's timing events, destroyed on every path out of this iteration.
    struct Events {
      const CudaDriver* driver;
      CUevent start = nullptr, stop = nullptr;
      ~Events() {
        if (start) driver->cuEventDestroy(start);
        if (stop) driver->cuEventDestroy(stop);
      }
    } events{driver_.get()};
    CUevent& start = events.start;
    CUevent& stop = events.stop;
    if (timed) {
      HSA_RETURN_IF_ERROR(check(driver_->cuEventCreate(&start, CU_EVENT_DEFAULT), "cuEventCreate"));
      HSA_RETURN_IF_ERROR(check(driver_->cuEventCreate(&stop, CU_EVENT_DEFAULT), "cuEventCreate"));
      HSA_RETURN_IF_ERROR(check(driver_->cuEventRecord(start, stream), "cuEventRecord"));
    }
    const EvaluatedLaunch& e = l.launch;
    HSA_RETURN_IF_ERROR(check(driver_->cuLaunchKernel(l.function, e.grid[0], e.grid[1], e.grid[2], e.block[0], e.block[1],
                                                      e.block[2], e.shared_bytes, stream,
                                                      l.params.empty() ? nullptr : const_cast<void**>(l.params.data()),
                                                      nullptr),
                              "launch of kernel '" + l.kernel + "'"));
    if (timed) {
      HSA_RETURN_IF_ERROR(check(driver_->cuEventRecord(stop, stream), "cuEventRecord"));
      HSA_RETURN_IF_ERROR(check(driver_->cuEventSynchronize(stop), "cuEventSynchronize"));
      float ms = 0;
      HSA_RETURN_IF_ERROR(check(driver_->cuEventElapsedTime(&ms, start, stop), "cuEventElapsedTime"));
      timings_.push_back(KernelTiming{l.kernel, ms});
    }
  }
  return Status::ok();
}

Status CudaBackend::enqueue_decode_sequence(bool timed) {
  const size_t B = shape_.batch;
  HSA_RETURN_IF_ERROR(enqueue_request_state());
  HSA_RETURN_IF_ERROR(enqueue_copy_to("io.q", stage_q_, B * shape_.q_heads * shape_.head_dim * shape_.act_bytes));
  HSA_RETURN_IF_ERROR(enqueue_step_input_copies(StepKind::Decode));
  HSA_RETURN_IF_ERROR(enqueue_plan(decode_plan_, timed, stream_));
  HSA_RETURN_IF_ERROR(enqueue_copy_from("io.o", stage_o_, B * shape_.q_heads * shape_.value_dim * shape_.act_bytes));
  HSA_RETURN_IF_ERROR(enqueue_copy_from("sel.copy_count", stage_copy_count_, B * shape_.groups * 4));
  return enqueue_copy_from("sel.units", stage_units_, B * shape_.groups * shape_.budget * 4);
}

Status CudaBackend::decode(const uint32_t* slots, size_t count, const uint16_t* q, uint16_t* o, SlotStepResult* results,
                           const StepInputRows& inputs) {
  HSA_RETURN_IF_ERROR(check(driver_->cuCtxSetCurrent(context_), "cuCtxSetCurrent"));
  const size_t row_q = size_t(shape_.q_heads) * shape_.head_dim, row_o = size_t(shape_.q_heads) * shape_.value_dim;
  last_lse_ = buffer("io.lse")->address;
  std::memset(stage_length_, 0, shape_.batch * 4);  // slots outside this call look free to the kernels
  for (size_t i = 0; i < count; ++i) {
    stage_length_[slots[i]] = int32_t(cache_->length(slots[i]));
    std::memcpy(stage_q_ + slots[i] * row_q, q + i * row_q, row_q * 2);
  }
  stage_step_inputs(StepKind::Decode, slots, count, inputs);
  for (uint32_t b = 0; b < shape_.batch; ++b) stage_step_[b] = steps_[b];
  timings_.clear();
  step_ms_ = -1.0;
  HSA_RETURN_IF_ERROR(check(driver_->cuEventRecord(step_start_, stream_), "cuEventRecord"));
  if (options_.use_cuda_graph) {
    if (!graph_exec_) {  // the staging addresses never change: capture once, replay every step
      HSA_RETURN_IF_ERROR(check(driver_->cuStreamBeginCapture(stream_, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL),
                                "cuStreamBeginCapture"));
      const Status captured = enqueue_decode_sequence(false);
      CUgraph graph = nullptr;
      const CUresult end = driver_->cuStreamEndCapture(stream_, &graph);
      // A failed capture or instantiation keeps nothing: the next step captures afresh.
      if (!captured.is_ok() || end != CUDA_SUCCESS) {
        if (graph) driver_->cuGraphDestroy(graph);
        HSA_RETURN_IF_ERROR(captured);
        return check(end, "cuStreamEndCapture");
      }
      CUgraphExec exec = nullptr;
      const Status instantiated = check(driver_->cuGraphInstantiate(&exec, graph, 0), "cuGraphInstantiate");
      if (!instantiated.is_ok()) {
        driver_->cuGraphDestroy(graph);
        return instantiated;
      }
      graph_ = graph;
      graph_exec_ = exec;
    }
    HSA_RETURN_IF_ERROR(check(driver_->cuGraphLaunch(graph_exec_, stream_), "cuGraphLaunch"));
  } else {
    HSA_RETURN_IF_ERROR(enqueue_decode_sequence(options_.profile_kernels));
  }
  HSA_RETURN_IF_ERROR(check(driver_->cuEventRecord(step_stop_, stream_), "cuEventRecord"));
  HSA_RETURN_IF_ERROR(synchronize());
  float step_ms = 0.0f;
  if (driver_->cuEventElapsedTime(&step_ms, step_start_, step_stop_) == CUDA_SUCCESS) step_ms_ = step_ms;
  for (size_t i = 0; i < count; ++i) {
    const uint32_t b = slots[i];
    std::memcpy(o + i * row_o, stage_o_ + b * row_o, row_o * 2);
    results[i] = staged_slot_result(b);
    steps_[b] += 1;
  }
  return Status::ok();
}

Status CudaBackend::after_append(const uint32_t* slots, size_t count, const void* new_k, const void* new_v,
                                 const StepInputRows& inputs) {
  HSA_RETURN_IF_ERROR(check(driver_->cuCtxSetCurrent(context_), "cuCtxSetCurrent"));
  // Bytes of one slot's rows, in the stored format.
  const size_t row_k = size_t(shape_.kv_heads) * shape_.key_row_bytes(), row_v = size_t(shape_.kv_heads) * shape_.value_row_bytes();
  std::memset(stage_length_, 0, shape_.batch * 4);
  for (size_t i = 0; i < count; ++i) {
    // The token at req.length (the host cache already counts it) is the one to append.
    stage_length_[slots[i]] = int32_t(cache_->length(slots[i]) - 1);
    std::memcpy(stage_new_k_ + slots[i] * row_k, static_cast<const uint8_t*>(new_k) + i * row_k, row_k);
    if (shape_.has_separate_v)
      std::memcpy(stage_new_v_ + slots[i] * row_v, static_cast<const uint8_t*>(new_v) + i * row_v, row_v);
  }
  stage_step_inputs(StepKind::Append, slots, count, inputs);
  for (uint32_t b = 0; b < shape_.batch; ++b) stage_step_[b] = steps_[b];
  HSA_RETURN_IF_ERROR(enqueue_request_state());
  HSA_RETURN_IF_ERROR(enqueue_copy_to("io.new_k", stage_new_k_, shape_.batch * row_k));
  if (shape_.has_separate_v) HSA_RETURN_IF_ERROR(enqueue_copy_to("io.new_v", stage_new_v_, shape_.batch * row_v));
  HSA_RETURN_IF_ERROR(enqueue_step_input_copies(StepKind::Append));
  HSA_RETURN_IF_ERROR(enqueue_plan(append_plan_, false, stream_));
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
  for (size_t c = 0; c < row; ++c)
    if (units[c] >= first) units[c] = used[c] = -1;
  // Kernels that keep the reverse map buf.unit_slot [B][S][N] (the compiler's
  // diff does) must forget the dropped units too: every unit >= first.
  if (const DeviceBuffer* unit_slot = buffer("buf.unit_slot")) {
    const size_t max_units = shape_.max_units;  // its size was checked at load
    for (uint32_t g = 0; g < shape_.groups && size_t(first) < max_units; ++g) {
      const size_t at = ((size_t(slot) * shape_.groups + g) * max_units + size_t(first)) * 4;
      HSA_RETURN_IF_ERROR(check(driver_->cuMemsetD8Async(unit_slot->address + CUdeviceptr(at), 0xFF,
                                                         (max_units - size_t(first)) * 4, stream_),
                                "reset of 'buf.unit_slot'"));
    }
  }
  HSA_RETURN_IF_ERROR(check(driver_->cuMemcpyHtoDAsync(slot_unit->address + offset, units.data(), row * 4, stream_), "upload of 'buf.slot_unit'"));
  HSA_RETURN_IF_ERROR(check(driver_->cuMemcpyHtoDAsync(last_used->address + offset, used.data(), row * 4, stream_), "upload of 'buf.last_used'"));
  std::memset(stage_length_, 0, shape_.batch * 4);
  stage_length_[slot] = int32_t(cache_->length(slot));
  for (uint32_t b = 0; b < shape_.batch; ++b) stage_step_[b] = steps_[b];
  HSA_RETURN_IF_ERROR(enqueue_request_state());
  HSA_RETURN_IF_ERROR(enqueue_plan(prefill_plan_, false, stream_));
  return synchronize();  // also keeps `units`/`used` alive until the uploads finished
}

Status CudaBackend::reset_slot(uint32_t slot) {
  HSA_RETURN_IF_ERROR(check(driver_->cuCtxSetCurrent(context_), "cuCtxSetCurrent"));
  for (const DeviceBuffer& b : buffers_) {
    if (!b.owned || !b.per_slot) continue;
    const size_t row = b.bytes / shape_.batch;
    HSA_RETURN_IF_ERROR(check(driver_->cuMemsetD8Async(b.address + CUdeviceptr(size_t(slot) * row), b.fill, row, stream_),
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

// A synchronous read of slot's rows of io.lse (and io.unselected_log_bound),
// turned into RequestTelemetry as the CPU backend does.
Status CudaBackend::telemetry(uint32_t slot, RequestTelemetry* out) {
  if (!options_.telemetry)
    return Status(StatusCode::InvalidArgument, "telemetry is off: create the runtime with RuntimeOptions::telemetry");
  if (steps_[slot] == 0) return Status(StatusCode::NotFound, "the request has no decode step yet");
  const uint32_t heads = shape_.q_heads, groups = shape_.groups;
  std::vector<float> lse(heads), head_log_bound(heads), group_log_bound(groups);
  HSA_RETURN_IF_ERROR(drain_device_work());  // a device-API step runs on the caller's stream
  HSA_RETURN_IF_ERROR(check(driver_->cuCtxSetCurrent(context_), "cuCtxSetCurrent"));
  // Slot's row of a [B][rows] f32 buffer at `address`.
  auto download = [&](CUdeviceptr address, const char* name, uint32_t rows, std::vector<float>* out_row) -> Status {
    return check(driver_->cuMemcpyDtoHAsync(out_row->data(), address + CUdeviceptr(uint64_t(slot) * rows * sizeof(float)),
                                            rows * sizeof(float), stream_),
                 std::string("download of '") + name + "'");
  };
  // The LSE where the last step wrote it (the device API may have given its own tensor).
  HSA_RETURN_IF_ERROR(download(last_lse_, "io.lse", heads, &lse));
  if (shape_.head_bound)
    HSA_RETURN_IF_ERROR(download(buffer(kUnselectedLogBoundBuffer)->address, kUnselectedLogBoundBuffer, heads,
                                 &head_log_bound));
  if (shape_.group_bound)
    HSA_RETURN_IF_ERROR(download(buffer(kGroupUnselectedLogBoundBuffer)->address, kGroupUnselectedLogBoundBuffer,
                                 groups, &group_log_bound));
  HSA_RETURN_IF_ERROR(synchronize());
  telemetry_from_rows(lse.data(), head_log_bound.data(), group_log_bound.data(), uint64_t(steps_[slot]), out);
  return Status::ok();
}

void CudaBackend::telemetry_from_rows(const float* lse, const float* head_log_bound, const float* group_log_bound,
                                      uint64_t step, RequestTelemetry* out) const {
  const uint32_t heads = shape_.q_heads;
  out->step = step;
  out->selected_lse.assign(lse, lse + heads);
  out->has_bound = shape_.head_bound || shape_.group_bound;
  out->missed_mass_bound.clear();
  out->max_missed_mass_bound = 0.0f;
  for (uint32_t h = 0; out->has_bound && h < heads; ++h) {
    // The tighter of the bounds the kernels wrote.
    double bound = 1.0;
    if (shape_.head_bound) bound = std::min(bound, missed_mass_bound(lse[h], head_log_bound[h]));
    if (shape_.group_bound)
      bound = std::min(bound, missed_mass_bound(lse[h], group_log_bound[(h / shape_.group_size) / shape_.heads_per_unit]));
    out->missed_mass_bound.push_back(round_up_to_float(bound));
    out->max_missed_mass_bound = std::max(out->max_missed_mass_bound, out->missed_mass_bound.back());
  }
}

Status CudaBackend::debug_buffer(const std::string& name, size_t bytes, const DeviceBuffer** out) const {
  const DeviceBuffer* b = buffer(name.c_str());
  if (!b) return Status(StatusCode::NotFound, "the artifact has no buffer '" + name + "'");
  if (b->host_tier)
    return Status(StatusCode::InvalidArgument, "'" + name + "' is a host-tier buffer: read the host cache instead");
  if (b->bytes != bytes)
    return Status(StatusCode::InvalidArgument, "buffer '" + name + "' has " + std::to_string(b->bytes) + " bytes, " +
                                                   std::to_string(bytes) + " requested");
  *out = b;
  return Status::ok();
}

Status CudaBackend::read_buffer(const std::string& name, void* dst, size_t bytes) {
  HSA_RETURN_IF_ERROR(check(driver_->cuCtxSetCurrent(context_), "cuCtxSetCurrent"));
  const DeviceBuffer* b = nullptr;
  HSA_RETURN_IF_ERROR(debug_buffer(name, bytes, &b));
  if (bytes == 0) return Status::ok();
  HSA_RETURN_IF_ERROR(check(driver_->cuMemcpyDtoHAsync(dst, b->address, bytes, stream_), "read of '" + name + "'"));
  return synchronize();
}

Status CudaBackend::write_buffer(const std::string& name, const void* src, size_t bytes) {
  HSA_RETURN_IF_ERROR(check(driver_->cuCtxSetCurrent(context_), "cuCtxSetCurrent"));
  const DeviceBuffer* b = nullptr;
  HSA_RETURN_IF_ERROR(debug_buffer(name, bytes, &b));
  if (bytes == 0) return Status::ok();
  HSA_RETURN_IF_ERROR(check(driver_->cuMemcpyHtoDAsync(b->address, src, bytes, stream_), "write of '" + name + "'"));
  return synchronize();  // `src` may be pageable and is the caller's: done before returning
}

}  // namespace

Status create_cuda_backend(const RuntimeOptions& options, std::unique_ptr<Backend>* out) {
  std::unique_ptr<CudaDriver> driver;
  HSA_RETURN_IF_ERROR(CudaDriver::load(options.cuda_driver_path.empty() ? "libcuda.so.1" : options.cuda_driver_path, &driver));
  return create_cuda_backend(options, std::move(driver), out);
}

Status create_cuda_backend(const RuntimeOptions& options, std::unique_ptr<CudaDriver> driver,
                           std::unique_ptr<Backend>* out) {
  if (!driver) return Status(StatusCode::InvalidArgument, "null CUDA driver table");
  std::unique_ptr<CudaBackend> backend(new CudaBackend(std::move(driver), options));
  HSA_RETURN_IF_ERROR(backend->initialize());
  *out = std::move(backend);
  return Status::ok();
}

}  // namespace hsa
