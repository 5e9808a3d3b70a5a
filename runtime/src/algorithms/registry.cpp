// The registry of algorithm packages (algorithms.def) and the validation of
// an artifact's parameter block against the package it names.
#include "algorithm.h"

#include <set>

namespace hsa {

#define HSA_ALGORITHM(name) const AlgorithmPackage& name##_package();
#include "algorithms.def"

namespace {
const std::vector<const AlgorithmPackage*>& packages() {
  static const std::vector<const AlgorithmPackage*> all = {
#define HSA_ALGORITHM(name) &name##_package(),
#include "algorithms.def"
  };
  return all;
}
}  // namespace

const AlgorithmParam* AlgorithmParams::find(const std::string& name) const {
  for (const AlgorithmParam& p : items)
    if (p.name == name) return &p;
  return nullptr;
}

int64_t AlgorithmParams::integer(const std::string& name) const {
  const AlgorithmParam* p = find(name);
  return p && p->kind == artifact::ParamKind::Integer ? p->integer : 0;
}

const std::string& AlgorithmParams::text(const std::string& name) const {
  static const std::string empty;
  const AlgorithmParam* p = find(name);
  return p && p->kind == artifact::ParamKind::String ? p->text : empty;
}

std::string AlgorithmParams::describe() const {
  std::string out;
  for (const AlgorithmParam& p : items) {
    if (!out.empty()) out += ", ";
    out += p.name + "=" + (p.kind == artifact::ParamKind::String ? p.text : std::to_string(p.integer));
  }
  return out;
}

const AlgorithmPackage* find_algorithm(const std::string& name) {
  for (const AlgorithmPackage* p : packages())
    if (name == p->name()) return p;
  return nullptr;
}

std::string registered_algorithms() {
  std::string out;
  for (const AlgorithmPackage* p : packages()) out += (out.empty() ? "" : ", ") + std::string(p->name());
  return out;
}

Status validate_algorithm_params(const AlgorithmPackage& package, const artifact::LayerConfigRecord& config,
                                 const AlgorithmParams& params) {
  const std::string where = std::string("algorithm '") + package.name() + "'";
  auto bad = [&](const std::string& why) { return Status(StatusCode::InvalidArtifact, where + ": " + why); };
  const std::vector<ParamSpec> specs = package.parameters();
  std::set<std::string> seen;
  for (const AlgorithmParam& p : params.items) {
    if (!seen.insert(p.name).second) return bad("parameter '" + p.name + "' is given twice");
    const ParamSpec* spec = nullptr;
    for (const ParamSpec& s : specs)
      if (p.name == s.name) spec = &s;
    if (!spec) {
      std::string known;
      for (const ParamSpec& s : specs) known += (known.empty() ? "" : ", ") + std::string(s.name);
      return bad("unknown parameter '" + p.name + "' (it takes: " + (known.empty() ? "none" : known) + ")");
    }
    if (p.kind != spec->kind)
      return bad("parameter '" + p.name + "' must be " +
                 (spec->kind == artifact::ParamKind::Integer ? "an integer" : "a string"));
    if (p.kind == artifact::ParamKind::Integer && (p.integer < spec->min || p.integer > spec->max))
      return bad("parameter '" + p.name + "' = " + std::to_string(p.integer) + " is outside [" +
                 std::to_string(spec->min) + ", " + std::to_string(spec->max) + "]");
    if (p.kind == artifact::ParamKind::String) {
      bool known = false;
      std::string choices;
      for (const char* c : spec->choices) {
        known = known || p.text == c;
        choices += (choices.empty() ? "" : ", ") + std::string(c);
      }
      if (!known) return bad("parameter '" + p.name + "' = '" + p.text + "' is not one of: " + choices);
    }
  }
  for (const ParamSpec& s : specs)
    if (!seen.count(s.name)) return bad(std::string("parameter '") + s.name + "' is missing");
  if (config.kv_dtype == uint32_t(artifact::KvDtype::Fp8Latent) && package.reads_key_rows())
    return Status(StatusCode::InvalidArtifact, where + " builds its representations from the cached keys and needs a bf16 or f16 cache, not fp8 latent rows "
               "(compile the layer with a bf16 cache, or use an algorithm that scores from elsewhere: dsa, "
               "streaming_llm)");
  Status layer = package.check_layer(config, params);
  if (!layer.is_ok()) return bad(layer.message());
  return Status::ok();
}

}  // namespace hsa
