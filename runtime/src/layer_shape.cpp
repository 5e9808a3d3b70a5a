#include "layer_shape.h"

#include <cmath>

#include "hsa/artifact_writer.h"
#include "hsa/telemetry_contract.h"

namespace hsa {
using namespace artifact;

uint64_t LayerShape::unit_bytes() const {
  return uint64_t(heads_per_unit) * page_size * (key_row_bytes() + value_row_bytes());
}

SymbolValues LayerShape::symbols() const {
  SymbolValues s{};
  s[uint32_t(Symbol::Batch)] = batch;
  s[uint32_t(Symbol::MaxUnits)] = max_units;
  s[uint32_t(Symbol::MaxTokens)] = int64_t(max_tokens());
  s[uint32_t(Symbol::PoolPages)] = pool_pages;
  s[uint32_t(Symbol::QHeads)] = q_heads;
  s[uint32_t(Symbol::KvHeads)] = kv_heads;
  s[uint32_t(Symbol::HeadDim)] = head_dim;
  s[uint32_t(Symbol::ValueDim)] = value_dim;
  s[uint32_t(Symbol::PageSize)] = page_size;
  s[uint32_t(Symbol::Groups)] = groups;
  s[uint32_t(Symbol::HeadsPerUnit)] = heads_per_unit;
  s[uint32_t(Symbol::Budget)] = budget;
  s[uint32_t(Symbol::Capacity)] = capacity;
  s[uint32_t(Symbol::Sinks)] = sinks;
  s[uint32_t(Symbol::Window)] = window;
  s[uint32_t(Symbol::ElementBytes)] = element_bytes;
  s[uint32_t(Symbol::KeyRow)] = key_row;
  return s;
}

std::vector<DocumentedBuffer> LayerShape::device_buffers() const {
  std::vector<DocumentedBuffer> out;
  for (DocumentedBuffer& b : documented_buffers(config, algorithm ? algorithm->buffers(config, params)
                                                                   : std::vector<DocumentedBuffer>{}))
    if (b.tier == Tier::Device) out.push_back(std::move(b));
  auto add = [&](const char* name, Symbol groups) {
    out.push_back(DocumentedBuffer{name, Tier::Device, ElementType::F32, BufferScope::PerBatchSlot,
                                   {Expr::sym(Symbol::Batch), Expr::sym(groups)}, 0});
  };
  if (head_bound) add(telemetry_contract::kHeadBoundBuffer, Symbol::QHeads);
  if (group_bound) add(telemetry_contract::kGroupBoundBuffer, Symbol::Groups);
  return out;
}

Status LayerShape::create(const LayerConfigRecord& c, const AlgorithmPackage* algorithm, const AlgorithmParams& params,
                          uint32_t batch, uint64_t max_context_tokens, uint32_t pool_pages, LayerShape* out) {
  if (!algorithm) return Status(StatusCode::InvalidArgument, "layer shape without an algorithm package");
  if (batch == 0 || batch > (1u << 16))
    return Status(StatusCode::InvalidArgument, "max_batch must be in [1, 65536], got " + std::to_string(batch));
  if (max_context_tokens == 0 || max_context_tokens > (uint64_t(1) << 31))
    return Status(StatusCode::InvalidArgument, "max_context_tokens must be in [1, 2^31]");
  if (c.kv_dtype == uint32_t(KvDtype::Fp8Latent)) HSA_RETURN_IF_ERROR(check_fp8_latent_layer(c));
  LayerShape s;
  s.config = c;
  s.dtype = KvDtype(c.kv_dtype);
  s.algorithm = algorithm;
  s.params = params;
  s.batch = batch;
  s.q_heads = c.num_q_heads;
  s.kv_heads = c.num_kv_heads;
  s.head_dim = c.head_dim;
  s.value_dim = c.value_dim;
  s.page_size = c.page_size;
  s.max_units = uint32_t((max_context_tokens + c.page_size - 1) / c.page_size);
  const uint64_t pages = pool_pages ? pool_pages : uint64_t(batch) * s.max_units;
  if (pages > UINT32_MAX / 2) return Status(StatusCode::InvalidArgument, "host pool of " + std::to_string(pages) + " pages is too large");
  s.pool_pages = uint32_t(pages);
  s.group_size = c.num_q_heads / c.num_kv_heads;
  s.groups = SelectionScope(c.scope) == SelectionScope::KvHead ? c.num_kv_heads : 1;
  s.heads_per_unit = c.num_kv_heads / s.groups;
  s.budget = c.budget_units;
  s.capacity = c.capacity_units;
  s.sinks = c.sink_units;
  s.window = c.window_units;
  s.has_separate_v = (c.flags & kLayerFlagValueIsKeyPrefix) == 0;
  // The loader checked an Fp8Latent layer's dims (artifact.cpp): latent,
  // Dv a multiple of the scale tile, D > Dv.
  s.act_dtype = s.dtype == KvDtype::Fp8Latent ? KvDtype::BF16 : s.dtype;
  s.element_bytes = s.dtype == KvDtype::Fp8Latent ? 1 : 2;
  s.act_bytes = 2;
  s.key_row = s.dtype == KvDtype::Fp8Latent ? fp8_latent_row_bytes(c.value_dim, c.head_dim - c.value_dim) : c.head_dim;
  s.scale = c.softmax_scale;
  // The step inputs' rows: a per-slot device buffer of the package's, and
  // for a pooled one a host buffer of the same rows per pool token.
  const std::vector<DocumentedBuffer> own = algorithm->buffers(c, params);
  auto find = [&](const char* name) -> const DocumentedBuffer* {
    for (const DocumentedBuffer& b : own)
      if (name && std::string(b.name) == name) return &b;
    return nullptr;
  };
  const SymbolValues symbols = s.symbols();
  auto value = [&](const Expr& e, int64_t* v) {
    std::vector<ExprInstr> code = e.code;
    return evaluate_expression(code, ExprRef{0, uint32_t(code.size())}, symbols, "step input dim", v);
  };
  for (const StepInputSpec& spec : algorithm->step_inputs(c, params)) {
    const DocumentedBuffer* b = find(spec.buffer);
    const std::string what = std::string("algorithm '") + algorithm->name() + "' step input '" +
                             (spec.buffer ? spec.buffer : "") + "'";
    if (!b || b->tier != Tier::Device || b->scope != BufferScope::PerBatchSlot || b->dims.empty())
      return Status(StatusCode::Internal, what + " is not a per-slot device buffer of the package");
    StepInputRow row;
    row.buffer = spec.buffer;
    row.kind = spec.kind;
    row.element_type = b->element_type;
    row.row_bytes = element_type_bytes(b->element_type);
    for (size_t d = 1; d < b->dims.size(); ++d) {
      int64_t v = 0;
      HSA_RETURN_IF_ERROR(value(b->dims[d], &v));
      row.row_dims.push_back(v);
      row.row_bytes *= uint64_t(v);
    }
    if (spec.kind == StepKind::Append && !spec.pool)  // prefill passes append inputs per token into the pool
      return Status(StatusCode::Internal, what + " is an append input without a host pool");
    if (spec.pool) {
      const DocumentedBuffer* pool = find(spec.pool);
      if (spec.kind != StepKind::Append || !pool || pool->tier != Tier::Host ||
          pool->element_type != b->element_type || pool->dims.size() != 2 + row.row_dims.size())
        return Status(StatusCode::Internal, what + ": its pool '" + spec.pool +
                                                "' is not a host buffer [PoolPages][P][row] of the same element type");
      row.pool = spec.pool;
    }
    s.step_inputs.push_back(std::move(row));
  }
  *out = s;
  return Status::ok();
}

Status evaluate_buffer_dims(const Artifact& artifact, const ArtifactBuffer& buffer, const SymbolValues& symbols,
                            std::vector<int64_t>* dims, uint64_t* bytes) {
  dims->clear();
  uint64_t total = element_type_bytes(buffer.element_type);
  for (size_t d = 0; d < buffer.dims.size(); ++d) {
    int64_t value = 0;
    HSA_RETURN_IF_ERROR(evaluate_expression(artifact.code, buffer.dims[d], symbols,
                                            "buffer '" + buffer.name + "' dim " + std::to_string(d), &value));
    if (value < 0)
      return Status(StatusCode::InvalidArtifact, "buffer '" + buffer.name + "' dim " + std::to_string(d) +
                                                     " evaluates to " + std::to_string(value));
    if (__builtin_mul_overflow(total, uint64_t(value), &total))
      return Status(StatusCode::InvalidArtifact, "buffer '" + buffer.name + "' size overflows 64 bits");
    dims->push_back(value);
  }
  *bytes = total;
  return Status::ok();
}

Status check_documented_shapes(const Artifact& artifact, const LayerShape& shape) {
  const SymbolValues symbols = shape.symbols();
  for (const DocumentedBuffer& doc : documented_buffers(shape.config, shape.algorithm->buffers(shape.config, shape.params))) {
    const int index = artifact.find_buffer(doc.name);
    if (index < 0) return Status(StatusCode::InvalidArtifact, std::string("buffer table lacks '") + doc.name + "'");
    std::vector<int64_t> dims;
    uint64_t bytes = 0;
    HSA_RETURN_IF_ERROR(evaluate_buffer_dims(artifact, artifact.buffers[index], symbols, &dims, &bytes));
    for (size_t d = 0; d < doc.dims.size(); ++d) {
      int64_t expected = 0;
      const Expr& e = doc.dims[d];
      std::vector<ExprInstr> code = e.code;
      HSA_RETURN_IF_ERROR(evaluate_expression(code, ExprRef{0, uint32_t(code.size())}, symbols, "documented dim", &expected));
      if (dims[d] != expected)
        return Status(StatusCode::InvalidArtifact, std::string("buffer '") + doc.name + "' dim " + std::to_string(d) +
                                                       " is " + std::to_string(dims[d]) + ", docs/BUFFERS.md says " +
                                                       std::to_string(expected));
    }
  }
  return Status::ok();
}

Status find_telemetry_bounds(const Artifact& artifact, LayerShape* shape) {
  const SymbolValues symbols = shape->symbols();
  auto find = [&](const char* name, uint32_t rows, const char* what, bool* present) -> Status {
    const int index = artifact.find_buffer(name);
    *present = index >= 0;
    if (index < 0) return Status::ok();
    const ArtifactBuffer& b = artifact.buffers[index];
    std::vector<int64_t> dims;
    uint64_t bytes = 0;
    HSA_RETURN_IF_ERROR(evaluate_buffer_dims(artifact, b, symbols, &dims, &bytes));
    if (b.tier != Tier::Device || b.element_type != ElementType::F32 || b.scope != BufferScope::PerBatchSlot ||
        dims.size() != 2 || dims[0] != int64_t(shape->batch) || dims[1] != int64_t(rows))
      return Status(StatusCode::InvalidArtifact,
                    std::string("telemetry buffer '") + name + "' must be a device f32 [B][" + what + "] = [" +
                        std::to_string(shape->batch) + "][" + std::to_string(rows) +
                        "] per-batch-slot buffer (runtime/include/hsa/telemetry_contract.h)");
    return Status::ok();
  };
  HSA_RETURN_IF_ERROR(find(telemetry_contract::kHeadBoundBuffer, shape->q_heads, "Hq", &shape->head_bound));
  HSA_RETURN_IF_ERROR(find(telemetry_contract::kGroupBoundBuffer, shape->groups, "S", &shape->group_bound));
  if (shape->group_bound && !shape->algorithm->scores_bound_group_logits(*shape))
    return Status(StatusCode::InvalidArtifact, std::string("telemetry buffer '") +
                                                   telemetry_contract::kGroupBoundBuffer + "': the scores of '" +
                                                   shape->algorithm->name() +
                                                   "' with these parameters bound no head's logits (Quest: combine "
                                                   "= max only)");
  return Status::ok();
}

Status per_request_device_bytes(const Artifact& artifact, const LayerShape& shape, uint64_t* bytes) {
  const SymbolValues symbols = shape.symbols();
  uint64_t total = 0;
  for (const ArtifactBuffer& b : artifact.buffers) {
    if (b.tier != Tier::Device || b.scope != BufferScope::PerBatchSlot) continue;
    std::vector<int64_t> dims;
    uint64_t buffer_bytes = 0;
    HSA_RETURN_IF_ERROR(evaluate_buffer_dims(artifact, b, symbols, &dims, &buffer_bytes));
    total += buffer_bytes / shape.batch;
  }
  *bytes = total;
  return Status::ok();
}

}  // namespace hsa
