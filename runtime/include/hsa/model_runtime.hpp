// hsa::ModelRuntime: every attention layer of a model in one runtime.
//
// One request table and one host KV page pool for all layers; per layer,
// its artifact, its device state and its own K/V storage of the pool's
// pages. A request has one batch slot and one page list in every layer: a
// page holds the same token positions in each, so a 32-layer model reserves
// host pages once per request, not 32 times, and admission is one check.
//
//   RuntimeOptions options;  options.max_batch = 64;  options.max_context_tokens = 131072;
//   std::unique_ptr<ModelRuntime> model;  ModelRuntime::create(options, &model);
//   for (const std::string& path : layer_artifacts) model->add_layer_file(path);
//   RequestId id;  model->create_request(&id);
//   for (uint32_t l = 0; l < model->num_layers(); ++l) model->prefill(l, id, k[l], v[l], tokens);
//   model->finish_prefill(id);                      // optional: builds every layer's representations now
//   each step, per layer l:  model->append(l, ids, n, new_k, new_v);  model->decode_step(l, ids, n, q, o, &stats);
//   model->release_request(id);                     // its pages go back to the pool
//
// Continuous batching: each call lists the requests it serves; the list may
// change from step to step (requests join after their prefill and leave by
// release). Threads: as for Runtime, calls on different requests may run
// concurrently; calls on one request (in any layer) are serialised by the
// caller. Errors: a request that outgrows its reservation (max context, or a
// full pool) gets OutOfCapacity and nothing of any request changes.
#ifndef HSA_MODEL_RUNTIME_HPP
#define HSA_MODEL_RUNTIME_HPP

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "hsa/hsattn_export.h"
#include "hsa/runtime.hpp"

namespace hsa {

class PagePool;

class HSATTN_EXPORT ModelRuntime {
 public:
  // options as for Runtime: max_batch and max_context_tokens hold for every
  // layer, pool_pages counts model pages (each exists in every layer; 0:
  // max_batch x max units), host_memory_limit_bytes bounds all layers together.
  static Status create(const RuntimeOptions& options, std::unique_ptr<ModelRuntime>* out);
  ~ModelRuntime();
  ModelRuntime(const ModelRuntime&) = delete;
  ModelRuntime& operator=(const ModelRuntime&) = delete;

  // Loads the next layer (index num_layers()). Layers may differ in heads,
  // dims, dtype and algorithm, not in page size (the page list is shared);
  // every layer is added before the first request.
  Status add_layer(const void* data, size_t size);
  Status add_layer_file(const std::string& path);
  uint32_t num_layers() const;
  Status layer_info(uint32_t layer, LayerInfo* info) const;
  const char* backend_name() const;

  Status create_request(RequestId* id);   // a slot in every layer
  Status release_request(RequestId id);   // every layer; its pages return to the pool

  // As Runtime's, for one layer (with the layer's step inputs, if its
  // algorithm has any); finish_prefill builds every layer's.
  Status prefill(uint32_t layer, RequestId id, const void* k, const void* v, uint64_t tokens,
                 const StepInput* inputs = nullptr, size_t input_count = 0);
  Status finish_prefill(RequestId id);
  Status append(uint32_t layer, const RequestId* ids, size_t count, const void* new_k, const void* new_v,
                const StepInput* inputs = nullptr, size_t input_count = 0);
  Status decode_step(uint32_t layer, const RequestId* ids, size_t count, const void* q, void* o, StepStats* stats,
                     const StepInput* inputs = nullptr, size_t input_count = 0);

  // The device API (runtime.hpp "Device API") for the whole model: one
  // begin_step per model step stages every layer's lengths (and reserves the
  // appended token once in the shared pool), then per layer the two enqueue
  // calls, all capturable into one CUDA graph per step. The request's slot is
  // the same in every layer.
  Status request_slot(RequestId id, uint32_t* slot) const;
  Status prefill_device(uint32_t layer, RequestId id, const void* k, const void* v, uint64_t tokens,
                        void* cuda_stream, const StepInput* inputs = nullptr, size_t input_count = 0);
  Status begin_step(const RequestId* ids, size_t count, bool append, void* cuda_stream);
  Status enqueue_append(uint32_t layer, const void* new_k, const void* new_v, void* cuda_stream,
                        const StepInput* inputs = nullptr, size_t input_count = 0);
  Status enqueue_decode(uint32_t layer, const void* q, void* o, float* lse, void* cuda_stream,
                        const StepInput* inputs = nullptr, size_t input_count = 0);
  // Runtime's step report, for one layer.
  Status enqueue_step_report(uint32_t layer, void* cuda_stream);
  Status step_report(uint32_t layer, const RequestId* ids, size_t count, StepStats* stats, bool* ready);
  // Runtime::external_attention of one layer.
  Status external_attention(uint32_t layer, ExternalAttention* out) const;

  Status request_accounting(uint32_t layer, RequestId id, RequestAccounting* accounting) const;
  uint32_t pool_pages() const;  // model pages in the pool (0 before the first layer)
  uint32_t free_pages() const;  // pages no request holds

  // The layer's runtime (the runtime's own tools: the stage checker).
  Runtime* layer_runtime(uint32_t layer);

 private:
  ModelRuntime() = default;
  Status check_layer(uint32_t layer) const;
  Status load_layer(const std::function<Status(Runtime&)>& load);

  RuntimeOptions options_;
  std::vector<std::unique_ptr<Runtime>> layers_;
  std::shared_ptr<PagePool> pool_;
  uint32_t page_size_ = 0;
  uint64_t host_bytes_ = 0;  // what the loaded layers hold, checked against the limit
  mutable std::mutex requests_mutex_;
  std::vector<char> slot_used_;  // guarded by requests_mutex_
  std::vector<RequestId> ids_;   // guarded by requests_mutex_: the requests, for add_layer's refusal
  RequestId next_id_ = 1;        // guarded by requests_mutex_
};

}  // namespace hsa

#endif  // HSA_MODEL_RUNTIME_HPP
