#include "hsa/model_runtime.hpp"

#include <algorithm>

#include "guarded.h"
#include "host_cache.h"
#include "runtime_internal.h"

namespace hsa {
namespace {

Status invalid_argument(const std::string& message) { return Status(StatusCode::InvalidArgument, message); }

}  // namespace

ModelRuntime::~ModelRuntime() {
  // The pool goes with the last layer holding it; layers go last first:
  // layer 0's backend allocated the shared page table the others read.
  pool_.reset();
  while (!layers_.empty()) layers_.pop_back();
}

Status ModelRuntime::create(const RuntimeOptions& options, std::unique_ptr<ModelRuntime>* out) {
  return guarded([&]() -> Status {
    if (!out) return invalid_argument("null output model runtime");
    // The options are checked by the first layer's runtime; check the
    // cheap ones here so that create itself refuses them.
    if (options.max_batch == 0) return invalid_argument("max_batch must be >= 1");
    if (options.max_context_tokens == 0) return invalid_argument("max_context_tokens must be >= 1");
    std::unique_ptr<ModelRuntime> model(new ModelRuntime());
    model->options_ = options;
    model->slot_used_.assign(options.max_batch, 0);
    *out = std::move(model);
    return Status::ok();
  });
}

Status ModelRuntime::load_layer(const std::function<Status(Runtime&)>& load) {
  {
    std::lock_guard<std::mutex> lock(requests_mutex_);
    if (!ids_.empty())
      return invalid_argument("layer " + std::to_string(layers_.size()) + " added after the first request: add "
                              "every layer before create_request");
  }
  RuntimeOptions options = options_;
  // Every layer on the backend the first one got (Auto may fall back).
  if (!layers_.empty())
    options.backend = std::string(layers_[0]->backend_name()) == "cuda" ? BackendKind::Cuda : BackendKind::Cpu;
  std::unique_ptr<Runtime> rt;
  HSA_RETURN_IF_ERROR(Runtime::create(options, &rt));
  if (pool_) RuntimeInternals::share_pool(*rt, pool_, host_bytes_);
  const Status loaded = load(*rt);
  if (!loaded.is_ok()) {
    if (layers_.empty()) return loaded;
    return Status(loaded.code(), "layer " + std::to_string(layers_.size()) + ": " + loaded.message());
  }
  const LayerShape& shape = RuntimeInternals::shape(*rt);
  if (!pool_) {
    pool_ = RuntimeInternals::cache(*rt).pool();
    page_size_ = shape.page_size;
  } else if (shape.page_size != page_size_) {
    // HostCache::create refused a different unit count; a different P with
    // the same count would mean other token positions in one page.
    return invalid_argument("layer " + std::to_string(layers_.size()) + " has page size " +
                            std::to_string(shape.page_size) + ", the model's layers " + std::to_string(page_size_) +
                            ": the layers share one page list (compile every layer with one page_size)");
  }
  host_bytes_ += RuntimeInternals::memory_needs(*rt).host_bytes;
  layers_.push_back(std::move(rt));
  return Status::ok();
}

Status ModelRuntime::add_layer(const void* data, size_t size) {
  return guarded([&]() -> Status { return load_layer([&](Runtime& rt) { return rt.load_artifact(data, size); }); });
}

Status ModelRuntime::add_layer_file(const std::string& path) {
  return guarded([&]() -> Status { return load_layer([&](Runtime& rt) { return rt.load_artifact_file(path); }); });
}

uint32_t ModelRuntime::num_layers() const { return uint32_t(layers_.size()); }

const char* ModelRuntime::backend_name() const { return layers_.empty() ? "none" : layers_[0]->backend_name(); }

Status ModelRuntime::check_layer(uint32_t layer) const {
  if (layers_.empty()) return invalid_argument("the model has no layers: add_layer first");
  if (layer >= layers_.size())
    return invalid_argument("layer " + std::to_string(layer) + " out of range (the model has " +
                            std::to_string(layers_.size()) + " layers)");
  return Status::ok();
}

Status ModelRuntime::layer_info(uint32_t layer, LayerInfo* info) const {
  return guarded([&]() -> Status {
    HSA_RETURN_IF_ERROR(check_layer(layer));
    return layers_[layer]->layer_info(info);
  });
}

Runtime* ModelRuntime::layer_runtime(uint32_t layer) { return layer < layers_.size() ? layers_[layer].get() : nullptr; }

Status ModelRuntime::create_request(RequestId* id) {
  return guarded([&]() -> Status {
    if (!id) return invalid_argument("null request id output");
    HSA_RETURN_IF_ERROR(check_layer(0));
    uint32_t slot = 0;
    RequestId new_id = 0;
    {
      std::lock_guard<std::mutex> lock(requests_mutex_);
      while (slot < options_.max_batch && slot_used_[slot]) ++slot;
      if (slot == options_.max_batch)
        return Status(StatusCode::OutOfCapacity, "all " + std::to_string(options_.max_batch) +
                                                     " batch slots are in use (release a request, or create the "
                                                     "model runtime with a larger max_batch)");
      slot_used_[slot] = 1;
      new_id = next_id_++;
    }
    // The same id in the same slot of every layer; undone if a layer fails.
    Status status;
    size_t made = 0;
    for (; made < layers_.size() && status.is_ok(); ++made) {
      status = RuntimeInternals::create_request_as(*layers_[made], new_id, slot);
      if (!status.is_ok()) break;
    }
    if (!status.is_ok()) {
      // Undo in the layers that took it; the caller sees the first error.
      for (size_t l = 0; l < made; ++l) static_cast<void>(layers_[l]->release_request(new_id));
      std::lock_guard<std::mutex> lock(requests_mutex_);
      slot_used_[slot] = 0;
      return Status(status.code(), "layer " + std::to_string(made) + ": " + status.message());
    }
    std::lock_guard<std::mutex> lock(requests_mutex_);
    ids_.push_back(new_id);
    *id = new_id;
    return Status::ok();
  });
}

Status ModelRuntime::release_request(RequestId id) {
  return guarded([&]() -> Status {
    HSA_RETURN_IF_ERROR(check_layer(0));
    uint32_t slot = 0;
    {  // unknown to every other call from here on
      std::lock_guard<std::mutex> lock(requests_mutex_);
      auto it = std::find(ids_.begin(), ids_.end(), id);
      if (it == ids_.end()) return Status(StatusCode::NotFound, "unknown request id " + std::to_string(id));
      HSA_RETURN_IF_ERROR(RuntimeInternals::slot_of(*layers_[0], id, &slot));
      ids_.erase(it);
    }
    // Every layer, whatever one of them says: the first error is returned.
    Status first;
    for (auto& layer : layers_) {
      const Status status = layer->release_request(id);
      if (first.is_ok() && !status.is_ok()) first = status;
    }
    std::lock_guard<std::mutex> lock(requests_mutex_);
    slot_used_[slot] = 0;
    return first;
  });
}

Status ModelRuntime::prefill(uint32_t layer, RequestId id, const void* k, const void* v, uint64_t tokens,
                             const StepInput* inputs, size_t input_count) {
  return guarded([&]() -> Status {
    HSA_RETURN_IF_ERROR(check_layer(layer));
    return layers_[layer]->prefill(id, k, v, tokens, inputs, input_count);
  });
}

Status ModelRuntime::prefill_device(uint32_t layer, RequestId id, const void* k, const void* v, uint64_t tokens,
                                    void* cuda_stream, const StepInput* inputs, size_t input_count) {
  return guarded([&]() -> Status {
    HSA_RETURN_IF_ERROR(check_layer(layer));
    return layers_[layer]->prefill_device(id, k, v, tokens, cuda_stream, inputs, input_count);
  });
}

Status ModelRuntime::finish_prefill(RequestId id) {
  return guarded([&]() -> Status {
    HSA_RETURN_IF_ERROR(check_layer(0));
    for (size_t l = 0; l < layers_.size(); ++l) {
      const Status status = layers_[l]->finish_prefill(id);
      if (!status.is_ok()) return l == 0 ? status : Status(status.code(), "layer " + std::to_string(l) + ": " + status.message());
    }
    return Status::ok();
  });
}

Status ModelRuntime::append(uint32_t layer, const RequestId* ids, size_t count, const void* new_k, const void* new_v,
                            const StepInput* inputs, size_t input_count) {
  return guarded([&]() -> Status {
    HSA_RETURN_IF_ERROR(check_layer(layer));
    return layers_[layer]->append(ids, count, new_k, new_v, inputs, input_count);
  });
}

Status ModelRuntime::decode_step(uint32_t layer, const RequestId* ids, size_t count, const void* q, void* o,
                                 StepStats* stats, const StepInput* inputs, size_t input_count) {
  return guarded([&]() -> Status {
    HSA_RETURN_IF_ERROR(check_layer(layer));
    return layers_[layer]->decode_step(ids, count, q, o, stats, inputs, input_count);
  });
}

Status ModelRuntime::request_slot(RequestId id, uint32_t* slot) const {
  return guarded([&]() -> Status {
    HSA_RETURN_IF_ERROR(check_layer(0));
    return layers_[0]->request_slot(id, slot);
  });
}

Status ModelRuntime::begin_step(const RequestId* ids, size_t count, bool append, void* cuda_stream) {
  return guarded([&]() -> Status {
    HSA_RETURN_IF_ERROR(check_layer(0));
    // Layer 0 validates everything (ids, stream, room in the shared pool) and
    // changes nothing when it refuses; the others then take the same pages.
    for (size_t l = 0; l < layers_.size(); ++l) {
      const Status s = layers_[l]->begin_step(ids, count, append, cuda_stream);
      if (!s.is_ok())
        return l == 0 ? s : Status(s.code(), "layer " + std::to_string(l) + ": " + s.message());
    }
    return Status::ok();
  });
}

Status ModelRuntime::enqueue_append(uint32_t layer, const void* new_k, const void* new_v, void* cuda_stream,
                                    const StepInput* inputs, size_t input_count) {
  return guarded([&]() -> Status {
    HSA_RETURN_IF_ERROR(check_layer(layer));
    return layers_[layer]->enqueue_append(new_k, new_v, cuda_stream, inputs, input_count);
  });
}

Status ModelRuntime::enqueue_decode(uint32_t layer, const void* q, void* o, float* lse, void* cuda_stream,
                                    const StepInput* inputs, size_t input_count) {
  return guarded([&]() -> Status {
    HSA_RETURN_IF_ERROR(check_layer(layer));
    return layers_[layer]->enqueue_decode(q, o, lse, cuda_stream, inputs, input_count);
  });
}

Status ModelRuntime::enqueue_step_report(uint32_t layer, void* cuda_stream) {
  return guarded([&]() -> Status {
    HSA_RETURN_IF_ERROR(check_layer(layer));
    return layers_[layer]->enqueue_step_report(cuda_stream);
  });
}

Status ModelRuntime::step_report(uint32_t layer, const RequestId* ids, size_t count, StepStats* stats, bool* ready) {
  return guarded([&]() -> Status {
    HSA_RETURN_IF_ERROR(check_layer(layer));
    return layers_[layer]->step_report(ids, count, stats, ready);
  });
}

Status ModelRuntime::external_attention(uint32_t layer, ExternalAttention* out) const {
  return guarded([&]() -> Status {
    HSA_RETURN_IF_ERROR(check_layer(layer));
    return layers_[layer]->external_attention(out);
  });
}

Status ModelRuntime::request_accounting(uint32_t layer, RequestId id, RequestAccounting* accounting) const {
  return guarded([&]() -> Status {
    HSA_RETURN_IF_ERROR(check_layer(layer));
    return layers_[layer]->request_accounting(id, accounting);
  });
}

uint32_t ModelRuntime::pool_pages() const { return pool_ ? pool_->pool_pages() : 0; }

uint32_t ModelRuntime::free_pages() const { return pool_ ? pool_->free_pages() : 0; }

}  // namespace hsa
