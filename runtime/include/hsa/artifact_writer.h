// Header-only builder of artifact byte images (format in artifact_format.h).
// Used by the compiler (built with -fno-exceptions) and by the runtime tests so
// both produce artifacts the same way. No exceptions, no runtime library.
//
// Usage:
//   hsa::artifact::ArtifactWriter w;
//   w.set_layer_config(cfg);
//   w.set_algorithm("quest", {Param::string("combine", "max")});
//   w.set_target("sm_90a", 80);
//   w.add_documented_buffers(algorithm_buffers);  // the layer contract + the package's
//   uint32_t k = w.add_kernel("score", "hsa_score", cubin, ptx, Expr::constant(0));
//   std::vector<Arg> args = w.memref_args(w.buffer_index("io.q"));   // ABI v2: 3 + 2r params
//   args.push_back(Arg::symbol_i32(Symbol::MaxUnits));
//   w.add_plan("decode_step", {LaunchSpec{k, grid, block, Expr::constant(0), args}});
//   std::vector<uint8_t> bytes = w.finish();
#ifndef HSA_ARTIFACT_WRITER_H
#define HSA_ARTIFACT_WRITER_H

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "hsa/artifact_format.h"
#include "hsa/layer_contract.h"
#include "hsa/page_table_contract.h"

namespace hsa {
namespace artifact {

// A postfix expression under construction: Expr::sym(Symbol::Batch) * ... etc.
struct Expr {
  std::vector<ExprInstr> code;

  static Expr constant(int64_t value) { return Expr{{ExprInstr{uint32_t(ExprOp::PushConst), 0, value}}}; }
  static Expr sym(Symbol symbol) { return Expr{{ExprInstr{uint32_t(ExprOp::PushSym), uint32_t(symbol), 0}}}; }
  static Expr binary(Expr lhs, const Expr& rhs, ExprOp op) {
    lhs.code.insert(lhs.code.end(), rhs.code.begin(), rhs.code.end());
    lhs.code.push_back(ExprInstr{uint32_t(op), 0, 0});
    return lhs;
  }
  static Expr ceil_div(const Expr& a, const Expr& b) { return binary(a, b, ExprOp::CeilDiv); }
  static Expr min(const Expr& a, const Expr& b) { return binary(a, b, ExprOp::Min); }
  static Expr max(const Expr& a, const Expr& b) { return binary(a, b, ExprOp::Max); }
};
inline Expr operator+(const Expr& a, const Expr& b) { return Expr::binary(a, b, ExprOp::Add); }
inline Expr operator-(const Expr& a, const Expr& b) { return Expr::binary(a, b, ExprOp::Sub); }
inline Expr operator*(const Expr& a, const Expr& b) { return Expr::binary(a, b, ExprOp::Mul); }

// One launch argument = one kernel parameter (ABI v2). ExprI64 arguments
// carry their expression until ArtifactWriter::add_plan stores it in expr_code.
struct Arg {
  LaunchArgRecord record;
  Expr expr;  // ExprI64 only

  static Arg make(ArgKind kind, uint32_t index, int64_t value) {
    Arg a;
    a.record = LaunchArgRecord{uint32_t(kind), index, value};
    return a;
  }
  static Arg buffer(uint32_t buffer_index) { return make(ArgKind::BufferPointer, buffer_index, 0); }
  static Arg symbol_i32(Symbol s) { return make(ArgKind::SymbolI32, uint32_t(s), 0); }
  static Arg symbol_i64(Symbol s) { return make(ArgKind::SymbolI64, uint32_t(s), 0); }
  static Arg immediate_i32(int32_t v) { return make(ArgKind::ImmediateI32, 0, v); }
  static Arg immediate_i64(int64_t v) { return make(ArgKind::ImmediateI64, 0, v); }
  static Arg expr_i64(const Expr& e) {
    Arg a = make(ArgKind::ExprI64, 0, 0);
    a.expr = e;
    return a;
  }
  // The ABI-v2 expansion of a memref kernel parameter of rank r over a buffer:
  // allocated pointer, aligned pointer, offset 0, r sizes, r row-major strides
  // (in elements). `sizes` may reshape the buffer (same element count).
  static std::vector<Arg> memref(uint32_t buffer_index, const std::vector<Expr>& sizes) {
    std::vector<Arg> out{buffer(buffer_index), buffer(buffer_index), immediate_i64(0)};
    for (const Expr& size : sizes) out.push_back(expr_i64(size));
    std::vector<Expr> strides(sizes.size(), Expr::constant(1));
    for (size_t i = sizes.size(); i-- > 1;)
      strides[i - 1] = i + 1 == sizes.size() ? sizes[i] : strides[i] * sizes[i];
    for (const Expr& stride : strides) out.push_back(expr_i64(stride));
    return out;
  }
};

// A PTX kernel that takes exactly `args` as its parameters (.u32 for the i32
// kinds, .u64 for the rest: kernel ABI v2) and returns: the kernel of
// writer-built test artifacts, which the CUDA backend loads and launches and
// whose parameter list the loader checks against the launches.
inline std::string noop_kernel_ptx(const std::string& chip, const std::string& entry, const std::vector<Arg>& args) {
  std::string ptx = ".version 8.0\n.target " + chip + "\n.address_size 64\n\n.visible .entry " + entry + "(";
  for (size_t i = 0; i < args.size(); ++i) {
    const ArgKind kind = ArgKind(args[i].record.kind);
    const bool narrow = kind == ArgKind::SymbolI32 || kind == ArgKind::ImmediateI32;
    ptx += std::string(i ? ",\n\t" : "\n\t") + (narrow ? ".param .u32 " : ".param .u64 ") + entry + "_param_" +
           std::to_string(i);
  }
  return ptx + "\n)\n{\n\tret;\n}\n";
}

struct LaunchSpec {
  uint32_t kernel;
  Expr grid[3];
  Expr block[3];
  Expr dynamic_shared_bytes;
  std::vector<Arg> args;
};

// One buffer of the layer's table for a given layer config.
struct DocumentedBuffer {
  const char* name;
  Tier tier;
  ElementType element_type;
  BufferScope scope;
  std::vector<Expr> dims;
  uint32_t flags;  // the documented initial contents: kBufferFlagFillMinusOne or 0
};

// The stored cache's element type (layer_contract.h Element::Kv) ...
inline ElementType kv_element_type(const LayerConfigRecord& cfg) {
  if (cfg.kv_dtype == uint32_t(KvDtype::Fp8Latent)) return ElementType::U8;
  return cfg.kv_dtype == uint32_t(KvDtype::F16) ? ElementType::F16 : ElementType::BF16;
}
// ... and the queries' and outputs' (Element::Act).
inline ElementType act_element_type(const LayerConfigRecord& cfg) {
  return cfg.kv_dtype == uint32_t(KvDtype::F16) ? ElementType::F16 : ElementType::BF16;
}

// The layer's buffer table: the rows of layer_contract.def that `cfg` has (no
// V buffers when V is a prefix of K), with `algorithm` (the package's own
// buffers) where the contract places them. docs/BUFFERS.md is generated from
// the same rows.
inline std::vector<DocumentedBuffer> documented_buffers(const LayerConfigRecord& cfg,
                                                        const std::vector<DocumentedBuffer>& algorithm = {}) {
  const ElementType kv = kv_element_type(cfg), act = act_element_type(cfg);
  const bool has_v = (cfg.flags & kLayerFlagValueIsKeyPrefix) == 0;
  std::vector<DocumentedBuffer> out;
  for (const contract::BufferEntry& row : contract::buffers()) {
    if (row.algorithm_buffers) {
      out.insert(out.end(), algorithm.begin(), algorithm.end());
      continue;
    }
    if (row.presence == contract::Presence::SeparateValues && !has_v) continue;
    DocumentedBuffer b{row.name, row.tier, contract::element_type(row.element, kv, act),
                       row.dims[0] == Symbol::Batch ? BufferScope::PerBatchSlot : BufferScope::Global, {},
                       row.fill == contract::Fill::MinusOne ? kBufferFlagFillMinusOne : 0u};
    for (uint32_t d = 0; d < row.rank; ++d) b.dims.push_back(Expr::sym(row.dims[d]));
    out.push_back(std::move(b));
  }
  // The page-table format's exported tables (page_table_contract.h), which
  // the runtime hands to engines (Runtime::external_attention).
  using page_table_contract::Dims;
  for (const page_table_contract::Table& t : page_table_contract::tables(PageTableFormat(cfg.page_table_format))) {
    const Expr B = Expr::sym(Symbol::Batch);
    DocumentedBuffer b{t.name, Tier::Device, ElementType::I32,
                       t.dims == Dims::BatchPlusOne ? BufferScope::Global : BufferScope::PerBatchSlot, {}, 0u};
    switch (t.dims) {
      case Dims::Batch: b.dims = {B}; break;
      case Dims::BatchPlusOne: b.dims = {B + Expr::constant(1)}; break;
      case Dims::BatchBudget: b.dims = {B, Expr::sym(Symbol::Budget)}; break;
      case Dims::BatchGroupsTokens:
        b.dims = {B, Expr::sym(Symbol::Groups), Expr::sym(Symbol::Budget) * Expr::sym(Symbol::PageSize)};
        break;
    }
    out.push_back(std::move(b));
  }
  return out;
}

// One algorithm parameter for ArtifactWriter::set_algorithm.
struct Param {
  std::string name;
  ParamKind kind;
  int64_t integer;
  std::string text;

  static Param number(const std::string& name, int64_t value) { return Param{name, ParamKind::Integer, value, ""}; }
  static Param string(const std::string& name, const std::string& value) {
    return Param{name, ParamKind::String, 0, value};
  }
};

class ArtifactWriter {
 public:
  ArtifactWriter() { strings_.push_back('\0'); }  // offset 0 is ""

  uint32_t add_string(const std::string& text) {
    for (size_t i = 0; i < string_offsets_.size(); ++i)
      if (string_offsets_[i].first == text) return string_offsets_[i].second;
    const uint32_t offset = uint32_t(strings_.size());
    strings_.insert(strings_.end(), text.begin(), text.end());
    strings_.push_back('\0');
    string_offsets_.push_back({text, offset});
    return offset;
  }

  ExprRef add_expr(const Expr& expr) {
    const ExprRef ref{uint32_t(code_.size()), uint32_t(expr.code.size())};
    code_.insert(code_.end(), expr.code.begin(), expr.code.end());
    return ref;
  }

  // The config's `algorithm` and `name` fields are written from
  // set_algorithm's and set_layer_name's strings.
  void set_layer_config(const LayerConfigRecord& cfg) { config_ = cfg; }
  // The layer's name (the IR's symbol name); unnamed ("") by default.
  void set_layer_name(const std::string& name) { name_ = name.empty() ? 0 : add_string(name); }
  const LayerConfigRecord& layer_config() const { return config_; }
  const std::string& algorithm_name() const { return algorithm_name_; }
  const std::vector<Param>& algorithm_params() const { return algorithm_params_; }

  // The algorithm package the layer uses and its parameters, in order.
  void set_algorithm(const std::string& name, const std::vector<Param>& params) {
    algorithm_name_ = name;
    algorithm_params_ = params;
    algorithm_ = add_string(name);
    params_.clear();
    for (const Param& p : params)
      params_.push_back(AlgorithmParamRecord{add_string(p.name), uint32_t(p.kind),
                                             p.kind == ParamKind::String ? int64_t(add_string(p.text)) : p.integer});
  }

  void set_target(const char* chip, uint32_t ptx_isa_version,
                  uint32_t kernel_abi_version = kKernelAbiVersion) {
    target_ = TargetRecord{add_string(chip), ptx_isa_version, kernel_abi_version, 0};
  }

  // flags: kBufferFlagFillMinusOne for buffers that start at -1 (0xFF bytes).
  uint32_t add_buffer(const std::string& name, Tier tier, ElementType type, BufferScope scope,
                      const std::vector<Expr>& dims, uint32_t flags = 0) {
    BufferRecord r{};
    r.name = add_string(name);
    r.tier = uint32_t(tier);
    r.element_type = uint32_t(type);
    r.scope = uint32_t(scope);
    r.rank = uint32_t(dims.size());
    r.flags = flags;
    for (size_t i = 0; i < dims.size() && i < kMaxRank; ++i) r.dims[i] = add_expr(dims[i]);
    buffers_.push_back(r);
    buffer_names_.push_back(name);
    buffer_dims_.push_back(dims);
    return uint32_t(buffers_.size() - 1);
  }

  void add_documented_buffers(const std::vector<DocumentedBuffer>& algorithm = {}) {
    for (const DocumentedBuffer& b : documented_buffers(config_, algorithm))
      add_buffer(b.name, b.tier, b.element_type, b.scope, b.dims, b.flags);
  }

  // Arg::memref over a buffer added earlier, with the dims it was added with.
  std::vector<Arg> memref_args(uint32_t buffer_index) const {
    return Arg::memref(buffer_index, buffer_index < buffer_dims_.size() ? buffer_dims_[buffer_index]
                                                                         : std::vector<Expr>{});
  }

  // Index of a buffer added earlier, or UINT32_MAX.
  uint32_t buffer_index(const std::string& name) const {
    for (size_t i = 0; i < buffer_names_.size(); ++i)
      if (buffer_names_[i] == name) return uint32_t(i);
    return UINT32_MAX;
  }

  uint32_t add_kernel(const std::string& name, const std::string& entry_symbol,
                      const std::vector<uint8_t>& cubin, const std::string& ptx,
                      const Expr& max_dynamic_shared_bytes, uint32_t static_shared_bytes = 0,
                      uint32_t max_registers = 0) {
    KernelRecord r{};
    r.name = add_string(name);
    r.entry_symbol = add_string(entry_symbol);
    r.cubin_offset = add_blob(cubin.data(), cubin.size());
    r.cubin_size = cubin.size();
    r.ptx_offset = add_blob(reinterpret_cast<const uint8_t*>(ptx.data()), ptx.size());
    r.ptx_size = ptx.size();
    r.static_shared_bytes = static_shared_bytes;
    r.max_registers = max_registers;
    r.max_dynamic_shared_bytes = add_expr(max_dynamic_shared_bytes);
    kernels_.push_back(r);
    return uint32_t(kernels_.size() - 1);
  }

  uint32_t add_plan(const std::string& name, const std::vector<LaunchSpec>& launches) {
    PlanRecord plan{add_string(name), uint32_t(launches_.size()), uint32_t(launches.size()), 0};
    for (const LaunchSpec& spec : launches) {
      LaunchRecord r{};
      r.kernel = spec.kernel;
      r.first_arg = uint32_t(args_.size());
      r.arg_count = uint32_t(spec.args.size());
      for (int i = 0; i < 3; ++i) r.grid[i] = add_expr(spec.grid[i]);
      for (int i = 0; i < 3; ++i) r.block[i] = add_expr(spec.block[i]);
      r.dynamic_shared_bytes = add_expr(spec.dynamic_shared_bytes);
      for (const Arg& a : spec.args) {
        LaunchArgRecord record = a.record;
        if (record.kind == uint32_t(ArgKind::ExprI64)) {
          const ExprRef ref = add_expr(a.expr);
          record.index = ref.first;
          record.value = ref.count;
        }
        args_.push_back(record);
      }
      launches_.push_back(r);
    }
    plans_.push_back(plan);
    return uint32_t(plans_.size() - 1);
  }

  // The complete file image: header, section table, then the sections in
  // SectionKind order, each 8-byte aligned; checksum last.
  std::vector<uint8_t> finish() const {
    struct Piece { SectionKind kind; uint32_t record_size; const void* data; size_t size; };
    LayerConfigRecord config = config_;
    config.algorithm = algorithm_;
    config.name = name_;
    const Piece pieces[kSectionKindCount] = {
        {SectionKind::Strings, 1, strings_.data(), strings_.size()},
        {SectionKind::Blobs, 1, blobs_.data(), blobs_.size()},
        {SectionKind::LayerConfig, sizeof(LayerConfigRecord), &config, sizeof(config)},
        {SectionKind::Target, sizeof(TargetRecord), &target_, sizeof(target_)},
        {SectionKind::ExprCode, sizeof(ExprInstr), code_.data(), code_.size() * sizeof(ExprInstr)},
        {SectionKind::Buffers, sizeof(BufferRecord), buffers_.data(), buffers_.size() * sizeof(BufferRecord)},
        {SectionKind::Kernels, sizeof(KernelRecord), kernels_.data(), kernels_.size() * sizeof(KernelRecord)},
        {SectionKind::Plans, sizeof(PlanRecord), plans_.data(), plans_.size() * sizeof(PlanRecord)},
        {SectionKind::Launches, sizeof(LaunchRecord), launches_.data(), launches_.size() * sizeof(LaunchRecord)},
        {SectionKind::LaunchArgs, sizeof(LaunchArgRecord), args_.data(), args_.size() * sizeof(LaunchArgRecord)},
        {SectionKind::AlgorithmParams, sizeof(AlgorithmParamRecord), params_.data(),
         params_.size() * sizeof(AlgorithmParamRecord)},
    };
    FileHeader header{};
    std::memcpy(header.magic, kMagic, sizeof(kMagic));
    header.format_version = kFormatVersion;
    header.header_size = sizeof(FileHeader);
    header.section_count = kSectionKindCount;
    header.section_table_offset = sizeof(FileHeader);
    SectionEntry table[kSectionKindCount];
    uint64_t cursor = sizeof(FileHeader) + sizeof(table);
    for (uint32_t i = 0; i < kSectionKindCount; ++i) {
      cursor = align8(cursor);
      table[i] = SectionEntry{uint32_t(pieces[i].kind), pieces[i].record_size, cursor, pieces[i].size};
      cursor += pieces[i].size;
    }
    header.total_size = cursor;
    std::vector<uint8_t> image(cursor, 0);
    std::memcpy(image.data() + sizeof(FileHeader), table, sizeof(table));
    for (uint32_t i = 0; i < kSectionKindCount; ++i)
      if (pieces[i].size) std::memcpy(image.data() + table[i].offset, pieces[i].data, pieces[i].size);
    std::memcpy(image.data(), &header, sizeof(header));
    seal(image);
    return image;
  }

  // Recomputes the checksum of an image (tests use it after patching bytes).
  static void seal(std::vector<uint8_t>& image) {
    if (image.size() < sizeof(FileHeader)) return;
    const uint32_t crc = crc32(image.data() + kChecksumCoverageBegin, image.size() - kChecksumCoverageBegin);
    std::memcpy(image.data() + offsetof(FileHeader, checksum), &crc, sizeof(crc));
  }

 private:
  static uint64_t align8(uint64_t v) { return (v + 7) & ~uint64_t(7); }

  // Kernels of one module share its image: identical blobs are stored once.
  uint64_t add_blob(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    for (const auto& blob : blob_ranges_)
      if (blob.second == size && std::memcmp(blobs_.data() + blob.first, data, size) == 0) return blob.first;
    const uint64_t offset = align8(blobs_.size());
    blob_ranges_.push_back({offset, size});
    blobs_.resize(offset, 0);
    blobs_.insert(blobs_.end(), data, data + size);
    return offset;
  }

  std::vector<char> strings_;
  std::vector<std::pair<std::string, uint32_t>> string_offsets_;
  std::vector<uint8_t> blobs_;
  std::vector<std::pair<uint64_t, size_t>> blob_ranges_;  // (offset, size) of each distinct blob
  LayerConfigRecord config_{};
  uint32_t name_ = 0;
  uint32_t algorithm_ = 0;  // string offset of the package name
  std::string algorithm_name_;
  std::vector<Param> algorithm_params_;
  std::vector<AlgorithmParamRecord> params_;
  TargetRecord target_{};
  std::vector<ExprInstr> code_;
  std::vector<BufferRecord> buffers_;
  std::vector<std::string> buffer_names_;
  std::vector<std::vector<Expr>> buffer_dims_;
  std::vector<KernelRecord> kernels_;
  std::vector<PlanRecord> plans_;
  std::vector<LaunchRecord> launches_;
  std::vector<LaunchArgRecord> args_;
};

}  // namespace artifact
}  // namespace hsa

#endif  // HSA_ARTIFACT_WRITER_H
