#include "launch_plan.h"

#include <cstring>

#include "layer_shape.h"

namespace hsa {
using namespace artifact;

Status evaluate_launch(const Artifact& artifact, const ArtifactLaunch& l, const SymbolValues& symbols,
                       const std::string& where, const std::function<uint64_t(uint32_t)>& address_of,
                       EvaluatedLaunch* out) {
  const ArtifactKernel& kernel = artifact.kernels[l.kernel];
  EvaluatedLaunch p;
  p.kernel = l.kernel;
  const int64_t grid_limit[3] = {INT32_MAX, 65535, 65535}, block_limit[3] = {1024, 1024, 64};
  int64_t threads = 1;
  for (int d = 0; d < 3; ++d) {
    int64_t g = 0, b = 0;
    HSA_RETURN_IF_ERROR(evaluate_expression(artifact.code, l.grid[d], symbols, where + " grid", &g));
    HSA_RETURN_IF_ERROR(evaluate_expression(artifact.code, l.block[d], symbols, where + " block", &b));
    if (g < 1 || g > grid_limit[d] || b < 1 || b > block_limit[d])
      return Status(StatusCode::InvalidArtifact, where + ": grid/block dimension " + std::string(1, "xyz"[d]) + " = " +
                                                     std::to_string(g) + "/" + std::to_string(b) + " out of range");
    threads *= b;
    p.grid[d] = unsigned(g);
    p.block[d] = unsigned(b);
  }
  if (threads > 1024)
    return Status(StatusCode::InvalidArtifact, where + ": " + std::to_string(threads) + " threads per block");
  for (int d = 0; d < 3; ++d)
    if (kernel.required_block[d] != 0 && kernel.required_block[d] != p.block[d])
      return Status(StatusCode::InvalidArtifact, where + ": block." + std::string(1, "xyz"[d]) + " = " +
                                                     std::to_string(p.block[d]) + " but the kernel requires " +
                                                     std::to_string(kernel.required_block[d]));
  int64_t shared = 0, max_shared = 0;
  HSA_RETURN_IF_ERROR(evaluate_expression(artifact.code, l.dynamic_shared_bytes, symbols, where + " shared bytes", &shared));
  HSA_RETURN_IF_ERROR(evaluate_expression(artifact.code, kernel.max_dynamic_shared_bytes, symbols, where + " max shared",
                                          &max_shared));
  if (shared < 0 || shared > max_shared)
    return Status(StatusCode::InvalidArtifact, where + ": dynamic shared bytes " + std::to_string(shared) +
                                                   " exceed the kernel's declared maximum " + std::to_string(max_shared));
  p.shared_bytes = unsigned(shared);
  p.cells.assign(l.args.size(), 0);
  p.sizes.assign(l.args.size(), 8);
  for (size_t a = 0; a < l.args.size(); ++a) {
    const LaunchArgRecord& arg = l.args[a];
    uint64_t& cell = p.cells[a];
    auto put32 = [&](int32_t v) {
      std::memcpy(&cell, &v, sizeof(v));
      p.sizes[a] = 4;
    };
    switch (ArgKind(arg.kind)) {
      case ArgKind::BufferPointer: cell = address_of(arg.index); break;
      case ArgKind::SymbolI32: {
        const int64_t v = symbols[arg.index];
        if (v < INT32_MIN || v > INT32_MAX)
          return Status(StatusCode::InvalidArtifact, where + " argument " + std::to_string(a) + ": symbol '" +
                                                         symbol_name(Symbol(arg.index)) + "' = " + std::to_string(v) +
                                                         " does not fit in i32");
        put32(int32_t(v));
        break;
      }
      case ArgKind::SymbolI64: std::memcpy(&cell, &symbols[arg.index], 8); break;
      case ArgKind::ImmediateI32: put32(int32_t(arg.value)); break;
      case ArgKind::ImmediateI64: std::memcpy(&cell, &arg.value, 8); break;
      case ArgKind::ExprI64: {
        int64_t v = 0;
        HSA_RETURN_IF_ERROR(evaluate_expression(artifact.code, ExprRef{arg.index, uint32_t(arg.value)}, symbols,
                                                where + " argument " + std::to_string(a), &v));
        std::memcpy(&cell, &v, 8);
        break;
      }
      default:  // the loader admits only the kinds above
        return Status(StatusCode::Internal, where + " argument " + std::to_string(a) + " has an unknown kind");
    }
  }
  // Each memref descriptor must describe its buffer (ABI v2): sizes = the
  // buffer's dims, strides = their row-major strides, for this instance. A
  // size expression edited in the artifact, or a binding moved to a buffer of
  // another shape, fails here on every backend.
  for (const MemrefDescriptor& d : l.descriptors) {
    const ArtifactBuffer& buffer = artifact.buffers[d.buffer];
    std::vector<int64_t> dims;
    uint64_t bytes = 0;
    HSA_RETURN_IF_ERROR(evaluate_buffer_dims(artifact, buffer, symbols, &dims, &bytes));
    std::vector<int64_t> strides(d.rank, 1);
    for (uint32_t i = d.rank; i-- > 1;)
      if (__builtin_mul_overflow(strides[i], dims[i], &strides[i - 1]))
        return Status(StatusCode::InvalidArtifact, where + ": the strides of '" + buffer.name + "' overflow 64 bits");
    for (uint32_t i = 0; i < 2 * d.rank; ++i) {
      const bool is_size = i < d.rank;
      const uint32_t dim = is_size ? i : i - d.rank, arg = d.first_arg + 3 + i;
      const int64_t expected = is_size ? dims[dim] : strides[dim];
      int64_t given = 0;
      std::memcpy(&given, &p.cells[arg], 8);
      if (given != expected)
        return Status(StatusCode::InvalidArtifact,
                      where + " argument " + std::to_string(arg) + ": " + (is_size ? "size " : "stride ") +
                          std::to_string(dim) + " of the memref descriptor of '" + buffer.name + "' is " +
                          std::to_string(given) + " but the buffer's " +
                          (is_size ? "dim " + std::to_string(dim) : "row-major stride " + std::to_string(dim)) +
                          " is " + std::to_string(expected) +
                          " (kernel ABI v2: a descriptor passes its buffer's own dims and row-major strides)");
    }
  }
  *out = std::move(p);
  return Status::ok();
}

Status evaluate_plan(const Artifact& artifact, size_t plan_index, const SymbolValues& symbols,
                     const std::function<uint64_t(uint32_t)>& address_of, std::vector<EvaluatedLaunch>* out) {
  const ArtifactPlan& plan = artifact.plans[plan_index];
  out->clear();
  for (size_t i = 0; i < plan.launches.size(); ++i) {
    const ArtifactLaunch& l = plan.launches[i];
    const std::string where = "plan '" + plan.name + "' launch " + std::to_string(i) + " ('" +
                              artifact.kernels[l.kernel].name + "')";
    EvaluatedLaunch e;
    HSA_RETURN_IF_ERROR(evaluate_launch(artifact, l, symbols, where, address_of, &e));
    out->push_back(std::move(e));
  }
  return Status::ok();
}

}  // namespace hsa
