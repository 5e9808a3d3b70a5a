// hsa-memory: what one request costs in device and host memory for a layer
// and for a model of L such layers, from the artifact's buffer table at a
// given max context (the sizes the runtime allocates), against a full
// device-resident cache; and the largest batch a GPU memory budget holds
// either way. Every buffer is counted by its table entry, grouped by what it
// is: the algorithm's representations (Quest's bounds, DSA's indexer keys),
// the resident buffer, the selection and page tables, the step's I/O rows,
// and kernel scratch.
//
//   hsa-memory ARTIFACT [--context=128K] [--layers=61] [--gpu-gib=141] [--reserved-gib=0]
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "artifact.h"
#include "cli.h"
#include "layer_shape.h"

namespace {

using namespace hsa;

const char* group_of(const std::string& name) {
  if (name.rfind("repr.", 0) == 0) return "representations";
  if (name.rfind("buf.", 0) == 0) return "resident buffer";
  if (name.rfind("io.", 0) == 0) return "step I/O rows";
  if (name.rfind("scratch.", 0) == 0) return "kernel scratch";
  return "selection, tables";  // sel.*, req.*, the page-table formats' tables
}

std::string gib(double bytes) {
  char text[64];
  if (bytes >= double(1ull << 30)) std::snprintf(text, sizeof(text), "%.2f GiB", bytes / double(1ull << 30));
  else if (bytes >= double(1ull << 20)) std::snprintf(text, sizeof(text), "%.2f MiB", bytes / double(1ull << 20));
  else std::snprintf(text, sizeof(text), "%.1f KiB", bytes / 1024.0);
  return text;
}

int usage() {
  std::fprintf(stderr, "usage: hsa-memory ARTIFACT [--context=128K] [--layers=61] [--gpu-gib=141] [--reserved-gib=0]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  uint64_t context = 131072, layers = 1;
  double gpu_gib = 141.0, reserved_gib = 0.0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t eq = arg.find('=');
    const std::string key = arg.substr(0, eq), value = eq == std::string::npos ? "" : arg.substr(eq + 1);
    bool ok = true;
    if (arg.rfind("--", 0) != 0) path = arg;
    else if (key == "--context") ok = cli::parse_count(value, &context);
    else if (key == "--layers") ok = cli::parse_count(value, &layers);
    else if (key == "--gpu-gib") ok = (gpu_gib = std::strtod(value.c_str(), nullptr)) > 0;
    else if (key == "--reserved-gib") ok = (reserved_gib = std::strtod(value.c_str(), nullptr)) >= 0 && !value.empty();
    else ok = false;
    if (!ok) {
      std::fprintf(stderr, "hsa-memory: bad option '%s'\n", arg.c_str());
      return usage();
    }
  }
  if (path.empty()) return usage();
  Artifact artifact;
  Status status = load_artifact_file(path, &artifact);
  if (!status.is_ok()) {
    std::fprintf(stderr, "hsa-memory: %s: %s\n", path.c_str(), status.message().c_str());
    return 3;
  }
  // Sizes for one batch slot; per-slot buffers scale with the batch, the
  // others (global) are paid once per layer.
  LayerShape shape;
  status = LayerShape::create(artifact, 1, context, 0, &shape);
  if (!status.is_ok()) {
    std::fprintf(stderr, "hsa-memory: %s\n", status.message().c_str());
    return 3;
  }
  const SymbolValues symbols = shape.symbols();
  struct Group {
    const char* name;
    uint64_t per_request = 0, global = 0;
    std::vector<std::string> buffers;
  };
  std::vector<Group> groups;
  uint64_t host_per_request = 0;
  for (const ArtifactBuffer& b : artifact.buffers) {
    std::vector<int64_t> dims;
    uint64_t bytes = 0;
    status = evaluate_buffer_dims(artifact, b, symbols, &dims, &bytes);
    if (!status.is_ok()) {
      std::fprintf(stderr, "hsa-memory: %s\n", status.message().c_str());
      return 3;
    }
    if (b.tier == artifact::Tier::Host) {  // the pool of one request at max context, and its page_of row
      host_per_request += bytes;
      continue;
    }
    const char* g = group_of(b.name);
    Group* group = nullptr;
    for (Group& x : groups)
      if (std::string(x.name) == g) group = &x;
    if (!group) {
      groups.push_back(Group{g, 0, 0, {}});
      group = &groups.back();
    }
    (b.scope == artifact::BufferScope::PerBatchSlot ? group->per_request : group->global) += bytes;
    group->buffers.push_back(b.name);
  }
  uint64_t per_request = 0, global = 0;
  for (const Group& g : groups) per_request += g.per_request, global += g.global;
  const uint64_t tokens = shape.max_tokens();
  const uint64_t token_bytes = shape.token_kv_bytes();  // as stored: 656 B for an fp8 latent row
  std::printf("hsa-memory: %s (%s), max context %" PRIu64 " tokens, %" PRIu64 " layer%s\n",
              artifact.name.empty() ? path.c_str() : artifact.name.c_str(), shape.algorithm->name(), tokens, layers,
              layers == 1 ? "" : "s");
  std::printf("  %-18s %14s %14s   %s\n", "device, per layer", "per request", "per layer", "buffers");
  for (const Group& g : groups) {
    std::string names;
    for (size_t i = 0; i < g.buffers.size(); ++i) names += (i ? ", " : "") + g.buffers[i];
    std::printf("  %-18s %14s %14s   %s\n", g.name, gib(double(g.per_request)).c_str(), gib(double(g.global)).c_str(),
                names.c_str());
  }
  std::printf("  %-18s %14s %14s\n", "total", gib(double(per_request)).c_str(), gib(double(global)).c_str());
  const double model_request = double(per_request) * double(layers), model_global = double(global) * double(layers);
  const double full_bf16 = double(tokens) * double(token_bytes) * double(layers);
  std::printf("per request, %" PRIu64 " layers: device %s, host %s\n", layers, gib(model_request).c_str(),
              gib(double(host_per_request) * double(layers)).c_str());
  for (const Group& g : groups)
    std::printf("  %-18s %s\n", g.name, gib(double(g.per_request) * double(layers)).c_str());
  std::printf("full device-resident cache: %s (%" PRIu64 " B per token and layer, %s) = %.1fx hsa's\n",
              gib(full_bf16).c_str(), token_bytes, kv_dtype_name(shape.dtype),
              full_bf16 / model_request);
  // (A layer that already stores fp8 latent rows printed that cache above.)
  const bool latent = !shape.has_separate_v && shape.kv_heads == 1 && shape.head_dim == 576 &&
                      shape.value_dim == 512 && !shape.fp8_latent();
  // FlashMLA's fp8 layout: 512 e4m3 latent values, 4 f32 scales (one per
  // 128), 64 bf16 rope values.
  const double full_fp8 = latent ? double(tokens) * 656.0 * double(layers) : 0.0;
  if (latent)
    std::printf("full device-resident cache, fp8 (FlashMLA's 656-B rows): %s = %.1fx hsa's\n", gib(full_fp8).c_str(),
                full_fp8 / model_request);
  const double budget = (gpu_gib - reserved_gib) * double(1ull << 30) - model_global;
  if (budget <= 0) {
    std::printf("a GPU budget of %.1f GiB - %.1f GiB reserved holds no request\n", gpu_gib, reserved_gib);
    return 0;
  }
  std::printf("max batch at %.1f GiB (%.1f GiB reserved, %s global per model): hsa %" PRIu64
              ", full cache %" PRIu64 "%s",
              gpu_gib, reserved_gib, gib(model_global).c_str(), uint64_t(budget / model_request),
              uint64_t(budget / full_bf16), latent ? "" : "\n");
  if (latent) std::printf(", full fp8 cache %" PRIu64 "\n", uint64_t(budget / full_fp8));
  return 0;
}
