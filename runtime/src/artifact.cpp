#include "artifact.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <set>
#include <utility>

#include "expression.h"
#include "hsa/artifact_writer.h"
#include "hsa/sha256.h"

namespace hsa {
using namespace artifact;

namespace {

Status invalid(const std::string& message) { return Status(StatusCode::InvalidArtifact, message); }

const char* section_name(SectionKind kind) {
  switch (kind) {
    case SectionKind::Strings: return "strings";
    case SectionKind::Blobs: return "blobs";
    case SectionKind::LayerConfig: return "layer_config";
    case SectionKind::Target: return "target";
    case SectionKind::ExprCode: return "expr_code";
    case SectionKind::Buffers: return "buffers";
    case SectionKind::Kernels: return "kernels";
    case SectionKind::Plans: return "plans";
    case SectionKind::Launches: return "launches";
    case SectionKind::LaunchArgs: return "launch_args";
    case SectionKind::AlgorithmParams: return "algorithm_params";
  }
  return "?";
}

uint32_t expected_record_size(SectionKind kind) {
  switch (kind) {
    case SectionKind::Strings: case SectionKind::Blobs: return 1;
    case SectionKind::LayerConfig: return sizeof(LayerConfigRecord);
    case SectionKind::Target: return sizeof(TargetRecord);
    case SectionKind::ExprCode: return sizeof(ExprInstr);
    case SectionKind::Buffers: return sizeof(BufferRecord);
    case SectionKind::Kernels: return sizeof(KernelRecord);
    case SectionKind::Plans: return sizeof(PlanRecord);
    case SectionKind::Launches: return sizeof(LaunchRecord);
    case SectionKind::LaunchArgs: return sizeof(LaunchArgRecord);
    case SectionKind::AlgorithmParams: return sizeof(AlgorithmParamRecord);
  }
  return 0;
}

// Reads an array of records out of a verified section (memcpy: no alignment assumption).
template <typename Record>
std::vector<Record> read_records(const uint8_t* data, const SectionEntry& section) {
  std::vector<Record> records(section.size / sizeof(Record));
  if (!records.empty()) std::memcpy(records.data(), data + section.offset, section.size);
  return records;
}

class Verifier {
 public:
  Verifier(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  Status run(Artifact* out) {
    HSA_RETURN_IF_ERROR(check_header());
    HSA_RETURN_IF_ERROR(check_section_table());
    HSA_RETURN_IF_ERROR(check_strings());
    HSA_RETURN_IF_ERROR(check_config(&out->config));
    HSA_RETURN_IF_ERROR(check_algorithm(out));
    HSA_RETURN_IF_ERROR(check_target(out));
    out->code = read_records<ExprInstr>(data_, section(SectionKind::ExprCode));
    code_ = &out->code;
    HSA_RETURN_IF_ERROR(check_buffers(out));
    HSA_RETURN_IF_ERROR(check_kernels(out));
    HSA_RETURN_IF_ERROR(check_plans(out));
    return Status::ok();
  }

 private:
  const SectionEntry& section(SectionKind kind) const { return sections_[uint32_t(kind) - 1]; }

  Status check_header() {
    if (size_ < sizeof(FileHeader))
      return invalid("artifact truncated: " + std::to_string(size_) + " bytes, the header alone needs " +
                     std::to_string(sizeof(FileHeader)));
    std::memcpy(&header_, data_, sizeof(header_));
    if (std::memcmp(header_.magic, kMagic, sizeof(kMagic)) != 0)
      return invalid("not an hsa artifact: wrong magic bytes");
    if (header_.format_version < kFormatVersion)
      return invalid("artifact format version " + std::to_string(header_.format_version) +
                     ", written by an older hsa-compile (this runtime reads version " +
                     std::to_string(kFormatVersion) + "): recompile the layer with this hsa-compile");
    if (header_.format_version != kFormatVersion)
      return invalid("unsupported artifact format version " + std::to_string(header_.format_version) +
                     " (this runtime reads version " + std::to_string(kFormatVersion) +
                     "): a newer hsa-compile wrote it; use its runtime");
    if (header_.total_size > size_)
      return invalid("artifact truncated: header says " + std::to_string(header_.total_size) +
                     " bytes but only " + std::to_string(size_) + " are present");
    if (header_.total_size < size_)
      return invalid("artifact has " + std::to_string(size_ - header_.total_size) +
                     " trailing bytes after its declared size " + std::to_string(header_.total_size));
    const uint32_t crc = crc32(data_ + kChecksumCoverageBegin, size_ - kChecksumCoverageBegin);
    if (crc != header_.checksum)
      return invalid("artifact checksum mismatch (stored " + hex(header_.checksum) + ", computed " + hex(crc) +
                     "): the file is corrupted");
    if (header_.header_size != sizeof(FileHeader))
      return invalid("header_size " + std::to_string(header_.header_size) + " != " +
                     std::to_string(sizeof(FileHeader)));
    if (header_.flags != 0) return invalid("unknown header flags " + hex(uint32_t(header_.flags)));
    return Status::ok();
  }

  Status check_section_table() {
    if (header_.section_count != kSectionKindCount)
      return invalid("artifact has " + std::to_string(header_.section_count) + " sections, expected " +
                     std::to_string(kSectionKindCount));
    const uint64_t table_bytes = uint64_t(kSectionKindCount) * sizeof(SectionEntry);
    if (header_.section_table_offset < sizeof(FileHeader) || header_.section_table_offset > size_ ||
        size_ - header_.section_table_offset < table_bytes)
      return invalid("artifact truncated: section table at byte " + std::to_string(header_.section_table_offset) +
                     " (" + std::to_string(table_bytes) + " bytes) ends past file size " + std::to_string(size_));
    bool seen[kSectionKindCount] = {};
    for (uint32_t i = 0; i < kSectionKindCount; ++i) {
      SectionEntry entry;
      std::memcpy(&entry, data_ + header_.section_table_offset + i * sizeof(SectionEntry), sizeof(entry));
      if (entry.kind < 1 || entry.kind > kSectionKindCount)
        return invalid("section table entry " + std::to_string(i) + " has unknown kind " + std::to_string(entry.kind));
      const SectionKind kind = SectionKind(entry.kind);
      const std::string name = std::string("section '") + section_name(kind) + "'";
      if (seen[entry.kind - 1]) return invalid(name + " appears twice");
      seen[entry.kind - 1] = true;
      if (entry.record_size != expected_record_size(kind))
        return invalid(name + " has record size " + std::to_string(entry.record_size) + ", expected " +
                       std::to_string(expected_record_size(kind)));
      if (entry.offset % 8 != 0) return invalid(name + " offset " + std::to_string(entry.offset) + " is not 8-byte aligned");
      if (entry.offset > size_ || size_ - entry.offset < entry.size)
        return invalid("artifact truncated: " + name + " ends at byte " +
                       std::to_string(entry.offset + entry.size) + " past file size " + std::to_string(size_));
      if (entry.offset < header_.section_table_offset + table_bytes && entry.size > 0)
        return invalid(name + " overlaps the header or section table");
      if (entry.size % entry.record_size != 0)
        return invalid(name + " size " + std::to_string(entry.size) + " is not a multiple of its record size " +
                       std::to_string(entry.record_size));
      sections_[entry.kind - 1] = entry;
    }
    for (uint32_t a = 0; a < kSectionKindCount; ++a)
      for (uint32_t b = a + 1; b < kSectionKindCount; ++b) {
        const SectionEntry &x = sections_[a], &y = sections_[b];
        if (x.size && y.size && x.offset < y.offset + y.size && y.offset < x.offset + x.size)
          return invalid(std::string("sections '") + section_name(SectionKind(x.kind)) + "' and '" +
                         section_name(SectionKind(y.kind)) + "' overlap");
      }
    for (SectionKind kind : {SectionKind::LayerConfig, SectionKind::Target})
      if (section(kind).size != expected_record_size(kind))
        return invalid(std::string("section '") + section_name(kind) + "' must hold exactly one record");
    return Status::ok();
  }

  Status check_strings() {
    const SectionEntry& s = section(SectionKind::Strings);
    if (s.size == 0 || data_[s.offset] != 0) return invalid("section 'strings' must start with the empty string");
    if (data_[s.offset + s.size - 1] != 0) return invalid("section 'strings' does not end with a NUL byte");
    return Status::ok();
  }

  Status string_at(uint32_t offset, const std::string& what, std::string* out) const {
    const SectionEntry& s = section(SectionKind::Strings);
    if (offset >= s.size)
      return invalid(what + ": string offset " + std::to_string(offset) + " is outside section 'strings' (" +
                     std::to_string(s.size) + " bytes)");
    *out = reinterpret_cast<const char*>(data_ + s.offset + offset);  // NUL-terminated: checked above
    return Status::ok();
  }

  Status check_config(LayerConfigRecord* out) {
    const LayerConfigRecord c = read_records<LayerConfigRecord>(data_, section(SectionKind::LayerConfig))[0];
    auto bad = [](const std::string& why) { return invalid("inconsistent layer config: " + why); };
    auto in_range = [&](uint32_t value, uint32_t count, const char* field) {
      return value < count ? Status::ok()
                           : bad(std::string(field) + " = " + std::to_string(value) + " is not a known value");
    };
    HSA_RETURN_IF_ERROR(in_range(c.kv_dtype, kKvDtypeCount, "kv_dtype"));
    HSA_RETURN_IF_ERROR(in_range(c.scope, kSelectionScopeCount, "scope"));
    HSA_RETURN_IF_ERROR(in_range(c.page_table_format, kPageTableFormatCount, "page_table_format"));
    constexpr uint32_t kMaxDim = 1u << 16;
    const std::pair<uint32_t, const char*> dims[] = {{c.num_q_heads, "num_q_heads"}, {c.num_kv_heads, "num_kv_heads"},
                                                    {c.head_dim, "head_dim"}, {c.value_dim, "value_dim"},
                                                    {c.page_size, "page_size"}};
    for (const auto& d : dims)
      if (d.first == 0 || d.first > kMaxDim)
        return bad(std::string(d.second) + " = " + std::to_string(d.first) + " must be in [1, " +
                   std::to_string(kMaxDim) + "]");
    if (c.num_q_heads % c.num_kv_heads != 0)
      return bad("num_q_heads " + std::to_string(c.num_q_heads) + " is not a multiple of num_kv_heads " +
                 std::to_string(c.num_kv_heads));
    if (c.flags & ~kLayerKnownFlags) return bad("unknown flags " + std::to_string(c.flags));
    if ((c.flags & kLayerFlagValueIsKeyPrefix) && c.value_dim > c.head_dim)
      return bad("value_dim " + std::to_string(c.value_dim) + " exceeds head_dim for a shared latent K/V");
    if (c.kv_dtype == uint32_t(KvDtype::Fp8Latent)) HSA_RETURN_IF_ERROR(check_fp8_latent_layer(c));
    if (c.budget_units == 0 || c.budget_units > kMaxDim) return bad("budget_units must be in [1, 65536]");
    if (c.capacity_units < c.budget_units || c.capacity_units > kMaxDim)
      return bad("capacity_units " + std::to_string(c.capacity_units) + " must be in [budget_units " +
                 std::to_string(c.budget_units) + ", 65536]");
    if (c.window_units == 0) return bad("window_units must be >= 1 (it holds the unit being written)");
    if (uint64_t(c.sink_units) + c.window_units > c.budget_units)
      return bad("sink_units + window_units = " + std::to_string(uint64_t(c.sink_units) + c.window_units) +
                 " exceeds budget_units " + std::to_string(c.budget_units));
    if (!std::isfinite(c.softmax_scale) || !(c.softmax_scale > 0.0f))
      return bad("softmax_scale must be finite and > 0 (the compiler writes the effective scale)");
    const PageTableFormat format = PageTableFormat(c.page_table_format);
    if ((format == PageTableFormat::FlashAttnBlockTable || format == PageTableFormat::FlashInferCsr) &&
        SelectionScope(c.scope) != SelectionScope::Request)
      return bad("FlashAttention/FlashInfer page tables need scope 'request'");
    *out = c;
    return Status::ok();
  }

  // The package the config names, and its parameter block.
  Status check_algorithm(Artifact* out) {
    std::string name;
    HSA_RETURN_IF_ERROR(string_at(out->config.name, "layer config name", &out->name));
    HSA_RETURN_IF_ERROR(string_at(out->config.algorithm, "layer config algorithm name", &name));
    out->algorithm = find_algorithm(name);
    if (!out->algorithm)
      return invalid("unknown algorithm '" + name + "': this runtime has the packages " + registered_algorithms() +
                     " (a newer runtime, or an artifact for another build of hsa?)");
    for (const AlgorithmParamRecord& r : read_records<AlgorithmParamRecord>(data_, section(SectionKind::AlgorithmParams))) {
      AlgorithmParam p;
      const std::string where = "algorithm parameter " + std::to_string(out->params.items.size());
      HSA_RETURN_IF_ERROR(string_at(r.name, where + " name", &p.name));
      if (r.kind >= kParamKindCount) return invalid(where + " '" + p.name + "': unknown kind " + std::to_string(r.kind));
      p.kind = ParamKind(r.kind);
      if (p.kind == ParamKind::String) {
        if (r.value < 0 || r.value > int64_t(UINT32_MAX))
          return invalid(where + " '" + p.name + "': string offset " + std::to_string(r.value) + " is out of range");
        HSA_RETURN_IF_ERROR(string_at(uint32_t(r.value), where + " '" + p.name + "' value", &p.text));
      } else {
        p.integer = r.value;
      }
      out->params.items.push_back(std::move(p));
    }
    return validate_algorithm_params(*out->algorithm, out->config, out->params);
  }

  Status check_target(Artifact* out) {
    const TargetRecord t = read_records<TargetRecord>(data_, section(SectionKind::Target))[0];
    HSA_RETURN_IF_ERROR(string_at(t.chip, "target chip", &out->chip));
    int number;
    char suffix;
    if (!parse_chip(out->chip, &number, &suffix))
      return invalid("target chip '" + out->chip + "' is not of the form sm_<number>[a|f]");
    if (t.kernel_abi_version != kKernelAbiVersion)
      return invalid("kernel ABI version " + std::to_string(t.kernel_abi_version) + " is not supported (this runtime: " +
                     std::to_string(kKernelAbiVersion) + ")");
    if (t.reserved != 0) return invalid("target: reserved field is not 0");
    out->ptx_isa_version = t.ptx_isa_version;
    out->kernel_abi_version = t.kernel_abi_version;
    return Status::ok();
  }

  Status check_expr(ExprRef ref, const std::string& what) const { return verify_expression(*code_, ref, what); }

  Status check_buffers(Artifact* out) {
    const std::vector<DocumentedBuffer> documented =
        documented_buffers(out->config, out->algorithm->buffers(out->config, out->params));
    std::set<std::string> names;
    for (const BufferRecord& r : read_records<BufferRecord>(data_, section(SectionKind::Buffers))) {
      ArtifactBuffer b;
      const std::string where = "buffer " + std::to_string(out->buffers.size());
      HSA_RETURN_IF_ERROR(string_at(r.name, where + " name", &b.name));
      const std::string what = where + " '" + b.name + "'";
      if (b.name.empty()) return invalid(where + " has an empty name");
      if (!names.insert(b.name).second) return invalid(what + " is defined twice");
      if (r.tier >= kTierCount) return invalid(what + ": unknown tier " + std::to_string(r.tier));
      if (r.element_type >= kElementTypeCount) return invalid(what + ": unknown element type " + std::to_string(r.element_type));
      if (r.scope >= kBufferScopeCount) return invalid(what + ": unknown scope " + std::to_string(r.scope));
      if (r.rank == 0 || r.rank > kMaxRank) return invalid(what + ": rank " + std::to_string(r.rank) + " not in [1, 8]");
      if (r.flags & ~kBufferKnownFlags)
        return invalid(what + ": unknown flag bits " + hex(r.flags & ~kBufferKnownFlags) + " (known: " +
                       hex(kBufferKnownFlags) + ")");
      b.flags = r.flags;
      b.tier = Tier(r.tier);
      b.element_type = ElementType(r.element_type);
      b.scope = BufferScope(r.scope);
      for (uint32_t d = 0; d < kMaxRank; ++d) {
        if (d >= r.rank) {
          if (r.dims[d].first != 0 || r.dims[d].count != 0) return invalid(what + ": unused dim " + std::to_string(d) + " is set");
          continue;
        }
        HSA_RETURN_IF_ERROR(check_expr(r.dims[d], what + " dim " + std::to_string(d)));
        b.dims.push_back(r.dims[d]);
      }
      if (b.scope == BufferScope::PerBatchSlot) {
        const ExprInstr& first = (*code_)[r.dims[0].first];
        if (r.dims[0].count != 1 || ExprOp(first.op) != ExprOp::PushSym || Symbol(first.symbol) != Symbol::Batch)
          return invalid(what + ": a per-batch-slot buffer's first dim must be the symbol 'batch'");
      }
      const DocumentedBuffer* doc = nullptr;
      for (const DocumentedBuffer& d : documented)
        if (b.name == d.name) doc = &d;
      if (doc) {
        if (doc->tier != b.tier || doc->element_type != b.element_type || doc->scope != b.scope ||
            doc->dims.size() != b.dims.size())
          return invalid(what + " does not match the layer's buffer table (docs/BUFFERS.md and the algorithm's docs/algorithms page: tier, element type, scope or rank)");
        if (doc->flags != b.flags)
          return invalid(what + ": fill flag says its initial contents are " + (b.fills_minus_one() ? "-1" : "0") +
                         ", the buffer table says " + (doc->flags & kBufferFlagFillMinusOne ? "-1" : "0"));
      } else if (b.tier == Tier::Host) {
        return invalid(what + " is a host-tier buffer the runtime does not provide");
      }
      out->buffers.push_back(std::move(b));
    }
    for (const DocumentedBuffer& d : documented)
      if (!names.count(d.name)) return invalid(std::string("buffer table lacks '") + d.name + "'");
    return Status::ok();
  }

  Status check_kernels(Artifact* out) {
    const SectionEntry& blobs = section(SectionKind::Blobs);
    std::set<std::string> names;
    for (const KernelRecord& r : read_records<KernelRecord>(data_, section(SectionKind::Kernels))) {
      ArtifactKernel k;
      const std::string where = "kernel " + std::to_string(out->kernels.size());
      HSA_RETURN_IF_ERROR(string_at(r.name, where + " name", &k.name));
      const std::string what = where + " '" + k.name + "'";
      HSA_RETURN_IF_ERROR(string_at(r.entry_symbol, what + " entry symbol", &k.entry_symbol));
      if (k.name.empty() || k.entry_symbol.empty()) return invalid(what + " has an empty name or entry symbol");
      if (!names.insert(k.name).second) return invalid(what + " is defined twice");
      auto blob_in_range = [&](uint64_t offset, uint64_t size, const char* image) {
        if (offset > blobs.size || blobs.size - offset < size)
          return invalid(what + " " + image + " bytes [" + std::to_string(offset) + ", +" + std::to_string(size) +
                         ") exceed section 'blobs' (" + std::to_string(blobs.size) + " bytes)");
        return Status::ok();
      };
      HSA_RETURN_IF_ERROR(blob_in_range(r.cubin_offset, r.cubin_size, "cubin"));
      HSA_RETURN_IF_ERROR(blob_in_range(r.ptx_offset, r.ptx_size, "PTX"));
      if (r.cubin_size == 0 && r.ptx_size == 0) return invalid(what + " has neither cubin nor PTX");
      const uint8_t* base = data_ + blobs.offset;
      k.cubin.assign(base + r.cubin_offset, base + r.cubin_offset + r.cubin_size);
      k.ptx.assign(reinterpret_cast<const char*>(base + r.ptx_offset), r.ptx_size);
      if (k.ptx.find('\0') != std::string::npos) return invalid(what + " PTX text contains a NUL byte");
      if (r.ptx_size > 0 && out->ptx_isa_version == 0) return invalid(what + " has PTX but the target's PTX ISA version is 0");
      if (r.reserved != 0) return invalid(what + ": reserved field is not 0");
      HSA_RETURN_IF_ERROR(check_expr(r.max_dynamic_shared_bytes, what + " max dynamic shared bytes"));
      k.static_shared_bytes = r.static_shared_bytes;
      k.max_registers = r.max_registers;
      std::memcpy(k.required_block, r.required_block, sizeof(k.required_block));
      k.max_dynamic_shared_bytes = r.max_dynamic_shared_bytes;
      out->kernels.push_back(std::move(k));
    }
    return Status::ok();
  }

  Status check_plans(Artifact* out) {
    const std::vector<LaunchRecord> launches = read_records<LaunchRecord>(data_, section(SectionKind::Launches));
    const std::vector<LaunchArgRecord> args = read_records<LaunchArgRecord>(data_, section(SectionKind::LaunchArgs));
    std::set<std::string> names;
    for (const PlanRecord& r : read_records<PlanRecord>(data_, section(SectionKind::Plans))) {
      ArtifactPlan plan;
      const std::string where = "plan " + std::to_string(out->plans.size());
      HSA_RETURN_IF_ERROR(string_at(r.name, where + " name", &plan.name));
      const std::string what = where + " '" + plan.name + "'";
      if (plan.name.empty()) return invalid(where + " has an empty name");
      if (!names.insert(plan.name).second) return invalid(what + " is defined twice");
      if (r.reserved != 0) return invalid(what + ": reserved field is not 0");
      if (uint64_t(r.first_launch) + r.launch_count > launches.size())
        return invalid(what + " launches [" + std::to_string(r.first_launch) + ", +" + std::to_string(r.launch_count) +
                       ") exceed the " + std::to_string(launches.size()) + " in section 'launches'");
      for (uint32_t i = 0; i < r.launch_count; ++i) {
        const LaunchRecord& l = launches[r.first_launch + i];
        const std::string lw = what + " launch " + std::to_string(i);
        if (l.kernel >= out->kernels.size())
          return invalid(lw + " names kernel " + std::to_string(l.kernel) + " of " + std::to_string(out->kernels.size()));
        if (l.reserved != 0) return invalid(lw + ": reserved field is not 0");
        ArtifactLaunch launch;
        launch.kernel = l.kernel;
        for (int d = 0; d < 3; ++d) {
          HSA_RETURN_IF_ERROR(check_expr(l.grid[d], lw + " grid." + "xyz"[d]));
          HSA_RETURN_IF_ERROR(check_expr(l.block[d], lw + " block." + "xyz"[d]));
          launch.grid[d] = l.grid[d];
          launch.block[d] = l.block[d];
        }
        HSA_RETURN_IF_ERROR(check_expr(l.dynamic_shared_bytes, lw + " dynamic shared bytes"));
        launch.dynamic_shared_bytes = l.dynamic_shared_bytes;
        if (uint64_t(l.first_arg) + l.arg_count > args.size())
          return invalid(lw + " arguments [" + std::to_string(l.first_arg) + ", +" + std::to_string(l.arg_count) +
                         ") exceed the " + std::to_string(args.size()) + " in section 'launch_args'");
        for (uint32_t a = 0; a < l.arg_count; ++a) {
          const LaunchArgRecord& arg = args[l.first_arg + a];
          const std::string aw = lw + " argument " + std::to_string(a);
          switch (ArgKind(arg.kind)) {
            case ArgKind::BufferPointer:
              if (arg.index >= out->buffers.size())
                return invalid(aw + " names buffer " + std::to_string(arg.index) + " of " + std::to_string(out->buffers.size()));
              break;
            case ArgKind::SymbolI32: case ArgKind::SymbolI64:
              if (arg.index >= kSymbolCount) return invalid(aw + " names unknown symbol " + std::to_string(arg.index));
              break;
            case ArgKind::ImmediateI32:
              if (arg.value < INT32_MIN || arg.value > INT32_MAX) return invalid(aw + " immediate does not fit in i32");
              break;
            case ArgKind::ImmediateI64:
              break;
            case ArgKind::ExprI64:
              if (arg.value < 1 || arg.value > int64_t(UINT32_MAX))
                return invalid(aw + " (ExprI64) has instruction count " + std::to_string(arg.value) +
                               ", must be in [1, 2^32)");
              HSA_RETURN_IF_ERROR(check_expr(ExprRef{arg.index, uint32_t(arg.value)}, aw + " (ExprI64)"));
              break;
            default:
              return invalid(aw + " has unknown kind " + std::to_string(arg.kind));
          }
          launch.args.push_back(arg);
        }
        HSA_RETURN_IF_ERROR(check_descriptors(out->buffers, lw, &launch));
        HSA_RETURN_IF_ERROR(check_kernel_parameters(out->kernels[l.kernel], l.kernel, lw, launch));
        plan.launches.push_back(std::move(launch));
      }
      out->plans.push_back(std::move(plan));
    }
    return Status::ok();
  }

  // Kernel ABI v2 passes every buffer as a memref descriptor: each
  // BufferPointer starts BufferPointer b, BufferPointer b, ImmediateI64 0,
  // rank(b) ExprI64 sizes, rank(b) ExprI64 strides (what the compiler writes;
  // whether the sizes and strides are b's own is checked when the runtime
  // evaluates the plan). A binding edited to another buffer, a descriptor cut
  // short or a bare pointer fails here.
  Status check_descriptors(const std::vector<ArtifactBuffer>& buffers, const std::string& where,
                           ArtifactLaunch* launch) const {
    const std::vector<LaunchArgRecord>& args = launch->args;
    auto kind = [&](size_t i) { return ArgKind(args[i].kind); };
    for (size_t i = 0; i < args.size();) {
      if (kind(i) != ArgKind::BufferPointer) {
        ++i;
        continue;
      }
      const uint32_t b = args[i].index;
      const std::string what = where + " argument " + std::to_string(i) + " (memref descriptor of buffer '" +
                               buffers[b].name + "')";
      const char* form = ": kernel ABI v2 passes a buffer as allocated pointer, aligned pointer (both BufferPointer "
                         "of the buffer), ImmediateI64 0, rank sizes and rank strides (ExprI64)";
      if (i + 1 >= args.size() || kind(i + 1) != ArgKind::BufferPointer)
        return invalid(what + ": the allocated pointer is not followed by the aligned pointer" + form);
      if (args[i + 1].index != b)
        return invalid(what + ": the aligned pointer (argument " + std::to_string(i + 1) + ") names buffer '" +
                       buffers[args[i + 1].index].name + "', the allocated pointer '" + buffers[b].name + "'" + form);
      if (i + 2 >= args.size() || kind(i + 2) != ArgKind::ImmediateI64 || args[i + 2].value != 0)
        return invalid(what + ": argument " + std::to_string(i + 2) + " (the offset) is not ImmediateI64 0" + form);
      const uint32_t rank = uint32_t(buffers[b].dims.size());
      const size_t end = i + 3 + 2 * size_t(rank);
      for (size_t a = i + 3; a < end; ++a)
        if (a >= args.size() || kind(a) != ArgKind::ExprI64)
          return invalid(what + ": buffer '" + buffers[b].name + "' has rank " + std::to_string(rank) + ", so arguments " +
                         std::to_string(i + 3) + ".." + std::to_string(end - 1) + " must be its " +
                         std::to_string(rank) + " sizes and " + std::to_string(rank) + " strides (ExprI64); argument " +
                         std::to_string(a) + (a >= args.size() ? " is missing" : " is not") + form);
      launch->descriptors.push_back(MemrefDescriptor{uint32_t(i), b, rank});
      i = end;
    }
    return Status::ok();
  }

  // Where the kernel has PTX, its `.entry` takes exactly the launch's
  // arguments, each of the argument's size: a launch edited to name another
  // kernel (of another signature), or an argument list that does not match
  // the kernel, fails at load instead of launching with garbage. (Kernels
  // with only a cubin are checked by the CUDA backend through
  // cuFuncGetParamInfo where the driver has it.)
  Status check_kernel_parameters(const ArtifactKernel& kernel, uint32_t index, const std::string& where,
                                 const ArtifactLaunch& launch) {
    if (kernel.ptx.empty()) return Status::ok();
    if (entry_sizes_.size() <= index) entry_sizes_.resize(index + 1);
    std::vector<uint32_t>& sizes = entry_sizes_[index].second;
    if (!entry_sizes_[index].first) {
      std::string why;
      if (!ptx_entry_parameter_sizes(kernel.ptx, kernel.entry_symbol, &sizes, &why))
        return invalid("kernel " + std::to_string(index) + " '" + kernel.name + "': " + why);
      entry_sizes_[index].first = true;
    }
    const std::string what = where + " (kernel '" + kernel.name + "', PTX entry '" + kernel.entry_symbol + "')";
    if (sizes.size() != launch.args.size())
      return invalid(what + ": the kernel takes " + std::to_string(sizes.size()) + " parameters but the launch passes " +
                     std::to_string(launch.args.size()) + " arguments (kernel ABI v2: one argument per parameter)");
    for (size_t a = 0; a < sizes.size(); ++a) {
      const uint32_t bytes = argument_bytes(ArgKind(launch.args[a].kind));
      if (sizes[a] != bytes)
        return invalid(what + ": parameter " + std::to_string(a) + " has " + std::to_string(sizes[a]) +
                       " bytes but argument " + std::to_string(a) + " is a " + std::to_string(bytes) + "-byte value");
    }
    return Status::ok();
  }

  static std::string hex(uint32_t v) {
    char text[16];
    std::snprintf(text, sizeof(text), "0x%08x", v);
    return text;
  }

  const uint8_t* data_;
  size_t size_;
  FileHeader header_{};
  SectionEntry sections_[kSectionKindCount]{};
  const std::vector<ExprInstr>* code_ = nullptr;
  std::vector<std::pair<bool, std::vector<uint32_t>>> entry_sizes_;  // per kernel: parsed, parameter sizes
};

bool is_identifier_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$' ||
         c == '.' || c == '%';
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Bytes of a PTX fundamental type (".u64" 8, ".b32" 4, ...), 0 if not one.
uint32_t ptx_type_bytes(const std::string& t) {
  if (t.size() < 3 || t[0] != '.' || (t[1] != 'u' && t[1] != 's' && t[1] != 'b' && t[1] != 'f')) return 0;
  const std::string bits = t.substr(2);
  if (bits == "8" && t[1] != 'f') return 1;
  if (bits == "16") return 2;
  if (bits == "32") return 4;
  if (bits == "64") return 8;
  return 0;
}

}  // namespace

int Artifact::find_buffer(const std::string& name) const {
  for (size_t i = 0; i < buffers.size(); ++i)
    if (buffers[i].name == name) return int(i);
  return -1;
}

int Artifact::find_plan(const std::string& name) const {
  for (size_t i = 0; i < plans.size(); ++i)
    if (plans[i].name == name) return int(i);
  return -1;
}

uint32_t argument_bytes(ArgKind kind) { return kind == ArgKind::SymbolI32 || kind == ArgKind::ImmediateI32 ? 4 : 8; }

bool ptx_entry_parameter_sizes(const std::string& ptx, const std::string& symbol, std::vector<uint32_t>* sizes,
                               std::string* why) {
  // Find ".entry <symbol>(" as a whole word.
  size_t open = std::string::npos;
  for (size_t at = ptx.find(".entry"); at != std::string::npos; at = ptx.find(".entry", at + 6)) {
    size_t i = at + 6;
    if (at > 0 && is_identifier_char(ptx[at - 1])) continue;
    if (i >= ptx.size() || !is_space(ptx[i])) continue;
    while (i < ptx.size() && is_space(ptx[i])) ++i;
    const size_t name = i;
    while (i < ptx.size() && is_identifier_char(ptx[i])) ++i;
    if (ptx.compare(name, i - name, symbol) != 0 || i - name != symbol.size()) continue;
    while (i < ptx.size() && is_space(ptx[i])) ++i;
    if (i < ptx.size() && ptx[i] == '(') {
      open = i;
      break;
    }
  }
  if (open == std::string::npos) {
    *why = "its PTX has no '.entry " + symbol + "(...)': the entry symbol does not name a kernel of the image";
    return false;
  }
  const size_t close = ptx.find(')', open);
  if (close == std::string::npos) {
    *why = "the parameter list of PTX entry '" + symbol + "' is not closed";
    return false;
  }
  sizes->clear();
  std::string list = ptx.substr(open + 1, close - open - 1);
  for (size_t c = list.find("//"); c != std::string::npos; c = list.find("//", c)) {  // line comments
    const size_t eol = list.find('\n', c);
    list.erase(c, eol == std::string::npos ? std::string::npos : eol - c);
  }
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    std::vector<std::string> tokens;
    for (size_t i = start; i < comma;) {
      while (i < comma && is_space(list[i])) ++i;
      const size_t t = i;
      while (i < comma && !is_space(list[i])) ++i;
      if (i > t) tokens.push_back(list.substr(t, i - t));
    }
    start = comma + 1;
    if (tokens.empty()) {
      if (comma == list.size() && sizes->empty()) break;  // "()": no parameters
      *why = "PTX entry '" + symbol + "' has an empty parameter in its list";
      return false;
    }
    const std::string which = "parameter " + std::to_string(sizes->size()) + " of PTX entry '" + symbol + "'";
    if (tokens[0] != ".param") {
      *why = which + " is not a .param";
      return false;
    }
    uint32_t bytes = 0;
    for (size_t k = 1; k < tokens.size(); ++k) {
      if (tokens[k] == ".align") {
        ++k;  // its number
        continue;
      }
      if (const uint32_t b = ptx_type_bytes(tokens[k])) {
        bytes = b;
        // The name may carry an array length: "name[16]".
        if (k + 1 < tokens.size()) {
          const std::string& name = tokens.back();
          const size_t bracket = name.find('[');
          if (bracket != std::string::npos) {
            const std::string count = name.substr(bracket + 1, name.size() - bracket - 2);
            if (name.back() != ']' || count.empty() || count.size() > 6 ||
                count.find_first_not_of("0123456789") != std::string::npos) {
              *why = which + " has a malformed array length";
              return false;
            }
            bytes *= uint32_t(std::stoul(count));
          }
        }
        break;
      }
    }
    if (bytes == 0) {
      *why = which + " has no type of a known size (.u32, .b64, ...)";
      return false;
    }
    sizes->push_back(bytes);
    if (comma == list.size()) break;
  }
  return true;
}

Status check_fp8_latent_layer(const LayerConfigRecord& c) {
  auto bad = [](const std::string& why) {
    return invalid("inconsistent layer config: an fp8 latent cache (kv_dtype Fp8Latent) " + why);
  };
  if ((c.flags & kLayerFlagValueIsKeyPrefix) == 0)
    return bad("is for latent (MLA) layers only, whose V is the first value_dim dims of K: use bf16 or f16 for a "
               "layer with separate values");
  if (c.value_dim % kFp8LatentTile != 0)
    return bad("needs a latent part (value_dim) that is a multiple of " + std::to_string(kFp8LatentTile) +
               " (one scale per tile), got " + std::to_string(c.value_dim));
  if (c.head_dim <= c.value_dim)
    return bad("needs a rope part: head_dim " + std::to_string(c.head_dim) + " must exceed value_dim " +
               std::to_string(c.value_dim));
  const uint32_t row = fp8_latent_row_bytes(c.value_dim, c.head_dim - c.value_dim);
  if (row % 16 != 0)
    return bad("needs a row of a multiple of 16 bytes: " + std::to_string(c.value_dim) + " + " +
               std::to_string(c.value_dim / kFp8LatentTile * 4) + " scale bytes + " +
               std::to_string(2 * (c.head_dim - c.value_dim)) + " rope bytes = " + std::to_string(row) +
               " (DeepSeek's 512 + 64 gives 656)");
  return Status::ok();
}

Status check_artifact_digest(const uint8_t* data, size_t size, const std::string& expected_hex) {
  Sha256Digest expected;
  if (!parse_sha256_hex(expected_hex.c_str(), &expected))
    return Status(StatusCode::InvalidArgument, "the expected artifact digest must be 64 hex digits (SHA-256), got '" +
                                                   expected_hex.substr(0, 80) + "'");
  const Sha256Digest actual = sha256(data, size);
  if (actual != expected)
    return Status(StatusCode::InvalidArtifact,
                  "artifact SHA-256 " + sha256_hex(actual) + " is not the pinned " + sha256_hex(expected) +
                      ": these are not the bytes that were pinned (rebuilt, edited or another file); load only "
                      "artifacts you trust, and pin the digest hsa-compile printed for them");
  return Status::ok();
}

Status load_artifact(const uint8_t* data, size_t size, Artifact* out, const std::string& expected_sha256) {
  if (!out) return Status(StatusCode::InvalidArgument, "load_artifact: null output");
  if (!data && size) return Status(StatusCode::InvalidArgument, "load_artifact: null data");
  if (!expected_sha256.empty()) HSA_RETURN_IF_ERROR(check_artifact_digest(data, size, expected_sha256));
  Artifact artifact;
  try {
    HSA_RETURN_IF_ERROR(Verifier(data, size).run(&artifact));
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::OutOfMemory, "out of memory while loading the artifact");
  }
  *out = std::move(artifact);
  return Status::ok();
}

Status read_artifact_file(const std::string& path, std::vector<uint8_t>* bytes) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (a regular file
  // ignores it); fstat on the open descriptor then refuses everything but a
  // regular file, with no window between the check and the read.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    const StatusCode code = error == ENOENT || error == ENOTDIR ? StatusCode::NotFound : StatusCode::InvalidArgument;
    return Status(code, "cannot open artifact file '" + path + "': " + std::strerror(error));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat info;
  if (::fstat(fd, &info) != 0)
    return Status(StatusCode::InvalidArgument, "cannot stat artifact file '" + path + "': " + std::strerror(errno));
  if (S_ISDIR(info.st_mode))
    return Status(StatusCode::InvalidArgument, "'" + path + "' is a directory, not an artifact file");
  if (!S_ISREG(info.st_mode))
    return Status(StatusCode::InvalidArgument, "'" + path + "' is not a regular file (a device, FIFO or socket): "
                                               "give the path of an artifact written by hsa-compile");
  if (uint64_t(info.st_size) > kMaxArtifactFileBytes)
    return Status(StatusCode::InvalidArgument, "'" + path + "' has " + std::to_string(uint64_t(info.st_size)) +
                                                   " bytes, more than any artifact (at most " +
                                                   std::to_string(kMaxArtifactFileBytes) + ")");
  bytes->resize(size_t(info.st_size));
  size_t done = 0;
  while (done < bytes->size()) {
    const ssize_t got = ::read(fd, bytes->data() + done, bytes->size() - done);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0)
      return Status(StatusCode::InvalidArgument, "cannot read artifact file '" + path + "': " + std::strerror(errno));
    if (got == 0) break;  // the file shrank while we read it: the verifier sees a truncated artifact
    done += size_t(got);
  }
  bytes->resize(done);
  return Status::ok();
}

Status load_artifact_file(const std::string& path, Artifact* out, const std::string& expected_sha256) {
  if (!out) return Status(StatusCode::InvalidArgument, "load_artifact_file: null output");
  std::vector<uint8_t> bytes;
  try {
    HSA_RETURN_IF_ERROR(read_artifact_file(path, &bytes));
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::OutOfMemory, "out of memory while reading artifact file '" + path + "'");
  }
  Status status = load_artifact(bytes.data(), bytes.size(), out, expected_sha256);
  if (!status.is_ok()) return Status(status.code(), path + ": " + status.message());
  return status;
}

bool parse_chip(const std::string& chip, int* number, char* suffix) {
  if (chip.size() < 4 || chip.size() > kMaxChipLength || chip.compare(0, 3, "sm_") != 0) return false;
  size_t i = 3;
  int value = 0;
  while (i < chip.size() && chip[i] >= '0' && chip[i] <= '9' && value < 10000) value = value * 10 + (chip[i++] - '0');
  if (i == 3 || value < 10) return false;
  char s = 0;
  if (i < chip.size()) {
    s = chip[i++];
    if (s != 'a' && s != 'f') return false;
  }
  if (i != chip.size()) return false;
  *number = value;
  *suffix = s;
  return true;
}

Status choose_kernel_images(const Artifact& artifact, int cc_major, int cc_minor, ImageChoice* choice) {
  int chip = 0;
  char suffix = 0;
  if (!parse_chip(artifact.chip, &chip, &suffix))
    return Status(StatusCode::InvalidArtifact, "target chip '" + artifact.chip + "' is malformed");
  const int device = cc_major * 10 + cc_minor;
  const bool cubin_ok = chip == device;
  const bool ptx_ok = suffix ? chip == device : device >= chip;
  for (const ArtifactKernel& k : artifact.kernels) {
    const bool usable = (cubin_ok && !k.cubin.empty()) || (ptx_ok && !k.ptx.empty());
    if (!usable)
      return Status(StatusCode::Unsupported,
                    "artifact targets " + artifact.chip + " but the device is sm_" + std::to_string(device) +
                        " (compute capability " + std::to_string(cc_major) + "." + std::to_string(cc_minor) +
                        "): kernel '" + k.name + "' has no image it can load; recompile for this chip");
  }
  choice->use_cubin = cubin_ok;
  return Status::ok();
}

}  // namespace hsa
