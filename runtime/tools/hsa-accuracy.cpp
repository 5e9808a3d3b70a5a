// hsa-accuracy: how much of dense attention each registered algorithm's
// selection captures, against the best possible selection at the same
// budget, on the workloads of workload.h (or a recorded trace). Every
// algorithm runs as the runtime runs it: a writer-built artifact
// (test_artifact.h) on the CPU reference backend, whose selections
// (Runtime::selected_units) and outputs are compared with dense attention
// computed here. Definitions: accuracy.h and docs/ACCURACY.md.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "accuracy.h"
#include "half.h"
#include "hsa/runtime.hpp"
#include "test_artifact.h"
#include "text_format.h"
#include "workload.h"

namespace {

using namespace hsa;
using Clock = std::chrono::steady_clock;

const char* kUsage =
    "usage: hsa-accuracy [options]\n"
    "\n"
    "Runs every listed algorithm at every budget on each workload and context (CPU reference\n"
    "backend, one request, a prompt then S decode steps) and reports, per row: the attention mass\n"
    "its selection captures (dense softmax probability on the selected tokens, mean over query\n"
    "heads and steps), recall against the unit oracle (the forced units plus the best other units\n"
    "of the group at the same budget) and the token oracle (the head's best budget tokens), the\n"
    "output's relative L2 error vs dense attention, the top-k overlap between consecutive steps\n"
    "and the hit rate of an LRU buffer of 1x, 2x and 4x the budget. docs/ACCURACY.md.\n"
    "\n"
    "options (a value follows '=' or comes as the next argument):\n"
    "  --workload=LIST     comma list of presets or trace:PATH (default drift); presets:\n"
    "                      drift, rope, outliers, topics, needles, sinks-recency, llm\n"
    "  --context=LIST      prompt lengths, K suffix = x1024 (default 32K; a trace: its own)\n"
    "  --budgets=LIST      budgets in tokens, multiples of the page size (default 512,1024,2048,4096)\n"
    "  --algorithms=LIST   quest:max, quest:sum, quest:mean_query, streaming_llm, cluster_kv\n"
    "                      (default all five); questN:max (N = 1..15): this tool's model of Quest\n"
    "                      with its bounds stored as N-bit codes, widened outward (not a runtime\n"
    "                      algorithm: what such a layer option would cost in recall)\n"
    "  --steps=S           decode steps per configuration (default 8)\n"
    "  --seed=N            workload seed (default 1)\n"
    "  --temperature=T     divide every logit by T (synthetic workloads; default the preset's, 1)\n"
    "  --needle-distances=LIST  the needles preset's distances in tokens (default 1K,2K,...,128K)\n"
    "  --q-heads=32 --kv-heads=8 --head-dim=128 --page=16 --scope=kv_head|request\n"
    "                      the layer (a trace sets the heads and dims); sinks 1 unit, window 2\n"
    "                      units (StreamingLLM: window = budget - 1 unit)\n"
    "  --clusters=M        ClusterKV's clusters at prefill (default 64; 4 k-means rounds; other values\n"
    "                      name its rows cluster_kv:M)\n"
    "  --jobs=N            configurations run in parallel (default 2)\n"
    "  --csv=PATH          also write one CSV row per configuration (bench/accuracy/plot.py reads it)\n"
    "  --write-trace=PATH  write the workload (one, at one context) as a trace file and stop\n"
    "  --quiet             no progress on stderr\n"
    "\n"
    "exit status: 0 ok, 2 bad options (unknown preset or algorithm, a budget larger than the\n"
    "context, ...), 3 setup failed, 4 a runtime call failed.\n";

struct Options {
  std::vector<std::string> workloads{"drift"};
  std::vector<uint64_t> contexts{32768};
  bool context_given = false;
  std::vector<uint64_t> budgets{512, 1024, 2048, 4096};
  std::vector<std::string> algorithms{"quest:max", "quest:sum", "quest:mean_query", "streaming_llm", "cluster_kv"};
  uint32_t steps = 8;
  uint64_t seed = 1;
  float temperature = 0.0f;
  std::vector<uint64_t> needle_distances;
  uint32_t q_heads = 32, kv_heads = 8, head_dim = 128, page = 16;
  bool request_scope = false;
  uint32_t clusters = 64, jobs = 2;
  std::string csv;
  std::string write_trace;  // write the (one) workload as a trace instead of evaluating
  bool quiet = false, help = false;
};

bool parse_u64(std::string text, uint64_t* out) {
  uint64_t scale = 1;
  if (!text.empty() && (text.back() == 'K' || text.back() == 'k')) {
    scale = 1024;
    text.pop_back();
  }
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 12) return false;
  *out = std::strtoull(text.c_str(), nullptr, 10) * scale;
  return true;
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    parts.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return parts;
}

const char* const kAlgorithms[] = {"quest:max", "quest:sum", "quest:mean_query", "streaming_llm", "cluster_kv"};

// "questN:max" (N = 1..15): not a runtime algorithm but this tool's model of
// Quest with its bounds stored as N-bit codes (accuracy::quest_max_selection,
// which with exact bounds selects what the runtime does): what such a layer
// option would cost in recall. 0 for any other name.
uint32_t coded_quest_bits(const std::string& name) {
  if (name.rfind("quest", 0) != 0 || name.size() < 10 || name.compare(name.size() - 4, 4, ":max") != 0) return 0;
  const std::string digits = name.substr(5, name.size() - 9);
  if (digits.empty() || digits.size() > 2 || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return 0;
  const int bits = std::stoi(digits);
  return bits >= 1 && bits <= 15 ? uint32_t(bits) : 0;
}

std::string parse_options(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t eq = arg.find('=');
    const std::string key = arg.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : arg.substr(eq + 1);
    if (key == "--help" || key == "-h") {
      o->help = true;
      continue;
    }
    if (key == "--quiet") {
      o->quiet = true;
      continue;
    }
    if (key.rfind("--", 0) != 0) return "unexpected argument '" + arg + "'";
    if (eq == std::string::npos) {
      if (i + 1 >= argc) return key + " needs a value";
      value = argv[++i];
    }
    auto numbers = [&](std::vector<uint64_t>* out, uint64_t min, uint64_t max) {
      out->clear();
      for (const std::string& part : split(value)) {
        uint64_t v = 0;
        if (!parse_u64(part, &v) || v < min || v > max) return "bad value in " + key + ": '" + part + "'";
        out->push_back(v);
      }
      return std::string();
    };
    auto number = [&](uint32_t* out, uint64_t min, uint64_t max) {
      uint64_t v = 0;
      if (!parse_u64(value, &v) || v < min || v > max) return "bad value for " + key + ": '" + value + "'";
      *out = uint32_t(v);
      return std::string();
    };
    std::string problem;
    if (key == "--workload") {
      o->workloads = split(value);
      for (const std::string& w : o->workloads) {
        workload::Params p;
        if (w.rfind("trace:", 0) == 0) {
          if (w.size() == 6) problem = "trace: needs a path (trace:PATH)";
        } else if (Status s = workload::preset(w, &p); !s.is_ok()) {
          problem = s.message();
        }
        if (!problem.empty()) break;
      }
    } else if (key == "--context") {
      o->context_given = true;
      problem = numbers(&o->contexts, 64, uint64_t(1) << 30);
    } else if (key == "--budgets") {
      problem = numbers(&o->budgets, 1, uint64_t(1) << 30);
    } else if (key == "--needle-distances") {
      problem = numbers(&o->needle_distances, 1, uint64_t(1) << 30);
    } else if (key == "--algorithms") {
      o->algorithms = split(value);
      for (const std::string& a : o->algorithms)
        if (std::find(std::begin(kAlgorithms), std::end(kAlgorithms), a) == std::end(kAlgorithms) &&
            !coded_quest_bits(a)) {
          std::string valid;
          for (const char* name : kAlgorithms) valid += (valid.empty() ? "" : ", ") + std::string(name);
          valid += ", and questN:max (N = 1..15: Quest with N-bit bounds, modelled here)";
          problem = "unknown algorithm '" + a + "': the algorithms are " + valid;
          break;
        }
    } else if (key == "--steps") {
      problem = number(&o->steps, 1, 100000);
    } else if (key == "--seed") {
      if (!parse_u64(value, &o->seed)) problem = "bad value for --seed: '" + value + "'";
    } else if (key == "--temperature") {
      char* end = nullptr;
      const double t = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != 0 || !(t > 0.0) || t > 1000.0)
        problem = "bad value for --temperature: '" + value + "' (a number > 0)";
      o->temperature = float(t);
    } else if (key == "--q-heads") {
      problem = number(&o->q_heads, 1, 1024);
    } else if (key == "--kv-heads") {
      problem = number(&o->kv_heads, 1, 1024);
    } else if (key == "--head-dim") {
      problem = number(&o->head_dim, 2, 512);
    } else if (key == "--page") {
      problem = number(&o->page, 1, 1024);
    } else if (key == "--scope") {
      if (value != "kv_head" && value != "request") problem = "--scope must be kv_head or request";
      o->request_scope = value == "request";
    } else if (key == "--clusters") {
      problem = number(&o->clusters, 1, 4096);
    } else if (key == "--jobs") {
      problem = number(&o->jobs, 1, 64);
    } else if (key == "--csv") {
      o->csv = value;
    } else if (key == "--write-trace") {
      if (value.empty()) problem = "--write-trace needs a path";
      o->write_trace = value;
    } else {
      problem = "unknown option " + key;
    }
    if (!problem.empty()) return problem;
  }
  if (o->q_heads % o->kv_heads != 0) return "--q-heads must be a multiple of --kv-heads";
  if (!o->write_trace.empty() && (o->workloads.size() != 1 || o->contexts.size() != 1))
    return "--write-trace writes one workload at one context";
  return "";
}

// One workload at one context, generated once and shared by every configuration.
struct Case {
  std::string workload;
  uint64_t prompt = 0;
  uint32_t steps = 0;
  workload::Dims dims;
  accuracy::Layout layout;
  std::vector<uint16_t> k, v;  // [prompt + steps][Hkv][D|Dv], KV dtype
  std::vector<uint16_t> q;     // [steps][Hq][D]
  std::vector<float> kf, vf;   // widened
  std::vector<accuracy::Dense> dense;  // per step
};

struct Row {
  std::string workload, algorithm;
  uint64_t context = 0, budget = 0;
  uint32_t steps = 0;
  double mass = 0, mass_min = INFINITY, oracle_unit = 0, oracle_token = 0, error = 0, overlap = NAN;
  double hit[3] = {NAN, NAN, NAN};
  double runtime_hit = NAN;  // the runtime's own hit rate at C = K (the 1x replay must equal it)
};

artifact::LayerConfigRecord layer_config(const Options& o, const Case& c, uint64_t budget, bool streaming) {
  artifact::LayerConfigRecord cfg = artifact::default_test_config();
  cfg.num_q_heads = c.dims.q_heads;
  cfg.num_kv_heads = c.dims.kv_heads;
  cfg.head_dim = c.dims.head_dim;
  cfg.value_dim = c.dims.value_dim;
  cfg.page_size = o.page;
  cfg.scope = uint32_t(o.request_scope ? artifact::SelectionScope::Request : artifact::SelectionScope::KvHead);
  cfg.softmax_scale = c.layout.scale;
  cfg.budget_units = uint32_t(budget / o.page);
  cfg.capacity_units = cfg.budget_units;
  cfg.sink_units = 1;
  cfg.window_units = streaming ? cfg.budget_units - 1 : 2;
  return cfg;
}

artifact::TestAlgorithm test_algorithm(const Options& o, const std::string& name) {
  if (name.rfind("quest:", 0) == 0) return artifact::TestAlgorithm::quest(name.substr(6));
  if (name == "streaming_llm") return artifact::TestAlgorithm::streaming_llm();
  return artifact::TestAlgorithm::cluster_kv(o.clusters, 4, 256, 4, o.clusters + 64, "max");
}

// One algorithm at one budget on the case: the runtime's selections and outputs.
Status run_config(const Options& o, const Case& c, const std::string& algorithm, uint64_t budget, Row* row) {
  const bool streaming = algorithm == "streaming_llm";
  const artifact::LayerConfigRecord cfg = layer_config(o, c, budget, streaming);
  const std::vector<uint8_t> bytes = artifact::make_test_artifact(cfg, "sm_90a", test_algorithm(o, algorithm));
  RuntimeOptions options;
  options.backend = BackendKind::Cpu;
  options.max_batch = 1;
  options.max_context_tokens = c.prompt + c.steps;
  options.pool_pages = uint32_t((c.prompt + c.steps + o.page - 1) / o.page);
  std::unique_ptr<Runtime> rt;
  Status status = Runtime::create(options, &rt);
  if (status.is_ok()) status = rt->load_artifact(bytes.data(), bytes.size());
  RequestId id = 0;
  if (status.is_ok()) status = rt->create_request(&id);
  if (status.is_ok()) status = rt->prefill(id, c.k.data(), c.v.data(), c.prompt);
  if (!status.is_ok()) return status;
  const uint32_t K = cfg.budget_units, S = c.layout.groups, Hq = c.dims.q_heads, Dv = c.dims.value_dim;
  const size_t row_k = size_t(c.dims.kv_heads) * c.dims.head_dim, row_v = size_t(c.dims.kv_heads) * Dv;
  std::vector<std::vector<int32_t>> selections;
  std::vector<uint16_t> out(size_t(Hq) * Dv);
  std::vector<double> o_double(out.size());
  uint64_t selected = 0, hits = 0;
  double overlap_sum = 0.0;
  uint32_t overlap_count = 0;
  for (uint32_t t = 0; t < c.steps; ++t) {
    const size_t token = c.prompt + t;
    status = rt->append(&id, 1, &c.k[token * row_k], &c.v[token * row_v]);
    StepStats stats;
    if (status.is_ok()) status = rt->decode_step(&id, 1, &c.q[size_t(t) * Hq * c.dims.head_dim], out.data(), &stats);
    std::vector<int32_t> units(size_t(S) * K);
    if (status.is_ok()) status = rt->selected_units(id, units.data(), units.size());
    if (!status.is_ok()) return status;
    if (t > 0) selected += stats.units_selected, hits += stats.hits;
    const accuracy::Dense& d = c.dense[t];
    double step_mass = 0.0;
    for (uint32_t h = 0; h < Hq; ++h) {
      const double m = accuracy::selection_mass(c.layout, d, h, &units[size_t(c.layout.group_of_head(h)) * K], K);
      step_mass += m / Hq;
      row->mass_min = std::min(row->mass_min, m);
    }
    row->mass += step_mass / c.steps;
    for (size_t i = 0; i < out.size(); ++i) o_double[i] = kv_to_float(out[i], c.dims.dtype);
    row->error += accuracy::output_error(d, o_double) / c.steps;
    if (t > 0) {
      overlap_sum += accuracy::overlap(S, K, units, selections.back());
      ++overlap_count;
    }
    selections.push_back(std::move(units));
  }
  if (overlap_count) row->overlap = overlap_sum / overlap_count;
  for (int i = 0; i < 3; ++i) row->hit[i] = accuracy::lru_hit_rate(S, K, K << i, selections);
  if (selected) row->runtime_hit = double(hits) / double(selected);
  return Status::ok();
}

// A row for selections this tool makes itself (no runtime): `select(t, units)`
// writes step t's selection [S][K]; mass, output error (the restricted
// attention's), overlap and the LRU replays as for a runtime row; no runtime
// hit rate.
void selection_row(const Case& c, uint32_t K, const std::function<void(uint32_t, std::vector<int32_t>*)>& select,
                   Row* row) {
  const uint32_t S = c.layout.groups, Hq = c.dims.q_heads;
  std::vector<std::vector<int32_t>> selections;
  std::vector<double> o;
  for (uint32_t t = 0; t < c.steps; ++t) {
    const accuracy::Dense& d = c.dense[t];
    std::vector<int32_t> units;
    select(t, &units);
    double step_mass = 0.0;
    for (uint32_t h = 0; h < Hq; ++h) {
      const double m = accuracy::selection_mass(c.layout, d, h, &units[size_t(c.layout.group_of_head(h)) * K], K);
      step_mass += m / Hq;
      row->mass_min = std::min(row->mass_min, m);
    }
    row->mass += step_mass / c.steps;
    accuracy::restricted_output(c.layout, d, c.vf.data(), units, K, &o);
    row->error += accuracy::output_error(d, o) / c.steps;
    selections.push_back(std::move(units));
  }
  double overlap_sum = 0.0;
  for (size_t t = 1; t < selections.size(); ++t) overlap_sum += accuracy::overlap(S, K, selections[t], selections[t - 1]);
  if (selections.size() > 1) row->overlap = overlap_sum / double(selections.size() - 1);
  for (int i = 0; i < 3; ++i) row->hit[i] = accuracy::lru_hit_rate(S, K, K << i, selections);
}

// "questN:max": the tool's model of Quest over N-bit bounds on the case's keys.
void coded_quest_config(const Case& c, uint32_t bits, uint64_t budget, uint32_t page, Row* row) {
  const uint32_t K = uint32_t(budget / page), Hq = c.dims.q_heads, D = c.dims.head_dim;
  std::vector<float> q(size_t(Hq) * D);
  selection_row(c, K, [&](uint32_t t, std::vector<int32_t>* units) {
    for (size_t i = 0; i < q.size(); ++i) q[i] = kv_to_float(c.q[size_t(t) * Hq * D + i], c.dims.dtype);
    accuracy::quest_max_selection(c.layout, c.kf.data(), c.dense[t].length, q.data(), K, 1, 2, bits, units);
  }, row);
}

// The oracles of the case at one budget (rows "oracle (unit)"; the token
// oracle's mass goes into every row of that budget).
void oracle_rows(const Case& c, uint64_t budget, uint32_t page, Row* unit, double* token_mass) {
  const uint32_t K = uint32_t(budget / page), Hq = c.dims.q_heads;
  selection_row(c, K, [&](uint32_t t, std::vector<int32_t>* units) {
    accuracy::unit_oracle(c.layout, c.dense[t], K, 1, 2, units);
  }, unit);
  *token_mass = 0.0;
  for (uint32_t t = 0; t < c.steps; ++t)
    for (uint32_t h = 0; h < Hq; ++h) *token_mass += accuracy::token_oracle_mass(c.dense[t], h, budget) / Hq / c.steps;
}

std::string fixed(double v, const char* format = "%.3f") {
  return std::isfinite(v) ? hsa::format_text(format, v) : std::string("n/a");
}

int run(const Options& o) {
  std::vector<Row> rows;
  std::FILE* csv = nullptr;
  if (!o.csv.empty()) {
    csv = std::fopen(o.csv.c_str(), "w");
    if (!csv) {
      std::fprintf(stderr, "hsa-accuracy: cannot write --csv file '%s'\n", o.csv.c_str());
      return 2;
    }
    std::fprintf(csv, "workload,context,algorithm,budget_tokens,steps,mass,mass_min,oracle_unit_mass,"
                      "oracle_token_mass,recall,recall_token,output_rel_l2,overlap,hit_1x,hit_2x,hit_4x\n");
  }
  const auto start = Clock::now();
  for (const std::string& spec : o.workloads) {
    std::vector<uint64_t> contexts = o.contexts;
    workload::Dims dims;
    dims.q_heads = o.q_heads, dims.kv_heads = o.kv_heads, dims.head_dim = dims.value_dim = o.head_dim;
    if (spec.rfind("trace:", 0) == 0) {
      workload::TraceHeader h;
      const Status s = workload::read_trace_header(spec.substr(6), &h);
      if (!s.is_ok()) {
        std::fprintf(stderr, "hsa-accuracy: %s\n", s.message().c_str());
        return 2;
      }
      dims.q_heads = h.q_heads, dims.kv_heads = h.kv_heads, dims.head_dim = h.head_dim, dims.value_dim = h.value_dim;
      if (!o.context_given) contexts = {h.prompt_tokens};
    }
    for (uint64_t context : contexts) {
      for (uint64_t budget : o.write_trace.empty() ? o.budgets : std::vector<uint64_t>{}) {
        const Status s = accuracy::check_budget(budget, context, o.page, 3);
        if (!s.is_ok()) {
          std::fprintf(stderr, "hsa-accuracy: --budgets: %s\n", s.message().c_str());
          return 2;
        }
      }
      Case c;
      c.workload = spec;
      c.prompt = context;
      c.steps = o.steps;
      c.dims = dims;
      c.layout.q_heads = dims.q_heads, c.layout.kv_heads = dims.kv_heads, c.layout.head_dim = dims.head_dim;
      c.layout.value_dim = dims.value_dim, c.layout.page_size = o.page;
      c.layout.groups = o.request_scope ? 1 : dims.kv_heads;
      c.layout.scale = float(1.0 / std::sqrt(double(dims.head_dim)));
      std::unique_ptr<workload::Workload> w;
      workload::Overrides overrides;
      overrides.temperature = o.temperature;
      overrides.needle_distances = o.needle_distances;
      Status status = workload::make_workload(spec, dims, o.seed, {context}, o.steps, overrides, &w);
      if (!status.is_ok()) {
        std::fprintf(stderr, "hsa-accuracy: %s\n", status.message().c_str());
        return 2;
      }
      const auto case_start = Clock::now();
      const size_t row_k = size_t(dims.kv_heads) * dims.head_dim, row_v = size_t(dims.kv_heads) * dims.value_dim;
      const size_t row_q = size_t(dims.q_heads) * dims.head_dim, tokens = context + o.steps;
      w->prompt(0, 0, context, &c.k, &c.v);
      c.k.resize(tokens * row_k);
      c.v.resize(tokens * row_v);
      c.q.resize(o.steps * row_q);
      for (uint32_t t = 0; t < o.steps; ++t) {
        w->next_token(0, &c.k[(context + t) * row_k], &c.v[(context + t) * row_v]);
        w->next_query(0, &c.q[t * row_q]);
      }
      c.kf.resize(c.k.size());
      c.vf.resize(c.v.size());
      for (size_t i = 0; i < c.k.size(); ++i) c.kf[i] = kv_to_float(c.k[i], dims.dtype);
      for (size_t i = 0; i < c.v.size(); ++i) c.vf[i] = kv_to_float(c.v[i], dims.dtype);
      if (!o.write_trace.empty()) {
        std::vector<float> qf(c.q.size());
        for (size_t i = 0; i < c.q.size(); ++i) qf[i] = kv_to_float(c.q[i], dims.dtype);
        status = workload::write_trace(o.write_trace, dims, context, o.steps, c.kf, c.vf, qf);
        if (!status.is_ok()) {
          std::fprintf(stderr, "hsa-accuracy: %s\n", status.message().c_str());
          return 3;
        }
        std::printf("wrote %s: %s, %llu-token prompt, %u steps (Hq %u, Hkv %u, D %u)\n", o.write_trace.c_str(),
                    w->describe().c_str(), (unsigned long long)context, o.steps, dims.q_heads, dims.kv_heads,
                    dims.head_dim);
        return 0;
      }
      c.dense.resize(o.steps);
      std::vector<float> qf(row_q);
      for (uint32_t t = 0; t < o.steps; ++t) {
        for (size_t i = 0; i < row_q; ++i) qf[i] = kv_to_float(c.q[t * row_q + i], dims.dtype);
        accuracy::dense_attention(c.layout, c.kf.data(), c.vf.data(), context + t + 1, qf.data(), &c.dense[t]);
      }
      if (!o.quiet)
        std::fprintf(stderr, "hsa-accuracy: %s at %llu tokens: workload and dense attention %.1f s\n",
                     w->describe().c_str(), (unsigned long long)context,
                     std::chrono::duration<double>(Clock::now() - case_start).count());

      // The configurations, on a pool of --jobs threads.
      struct Job {
        std::string algorithm;
        uint64_t budget;
        Row row;
        Status status;
      };
      std::vector<Job> jobs;
      for (const std::string& a : o.algorithms)
        for (uint64_t budget : o.budgets) jobs.push_back(Job{a, budget, Row{}, Status::ok()});
      std::atomic<size_t> next{0};
      std::mutex print;
      auto worker = [&] {
        for (size_t j = next++; j < jobs.size(); j = next++) {
          const auto job_start = Clock::now();
          Job& job = jobs[j];
          if (const uint32_t bits = coded_quest_bits(job.algorithm)) {
            coded_quest_config(c, bits, job.budget, o.page, &job.row);
            job.status = Status::ok();
          } else {
            job.status = run_config(o, c, job.algorithm, job.budget, &job.row);
          }
          if (!o.quiet) {
            std::lock_guard<std::mutex> lock(print);
            std::fprintf(stderr, "  %s at %llu tokens: %.1f s\n", job.algorithm.c_str(),
                         (unsigned long long)job.budget,
                         std::chrono::duration<double>(Clock::now() - job_start).count());
          }
        }
      };
      std::vector<std::thread> pool;
      for (uint32_t i = 1; i < std::min<size_t>(o.jobs, jobs.size()); ++i) pool.emplace_back(worker);
      worker();
      for (std::thread& t : pool) t.join();

      std::printf("\n%s, %llu-token prompt, %u decode steps, seed %llu (Hq %u, Hkv %u, D %u, P %u, %s scope)\n\n",
                  w->describe().c_str(), (unsigned long long)context, o.steps, (unsigned long long)o.seed,
                  dims.q_heads, dims.kv_heads, dims.head_dim, o.page, o.request_scope ? "request" : "kv_head");
      std::printf("| algorithm | budget | mass | recall (unit oracle) | recall (token oracle) | output rel. L2 | "
                  "top-k overlap | hit 1x | hit 2x | hit 4x |\n");
      std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
      for (uint64_t budget : o.budgets) {
        Row unit;
        double token_mass = 0.0;
        oracle_rows(c, budget, o.page, &unit, &token_mass);
        unit.algorithm = "oracle (unit)";
        std::vector<Row> block;
        for (Job& job : jobs) {
          if (job.budget != budget) continue;
          if (!job.status.is_ok()) {
            std::fprintf(stderr, "hsa-accuracy: %s at budget %llu failed: %s\n", job.algorithm.c_str(),
                         (unsigned long long)budget, job.status.message().c_str());
            return 4;
          }
          job.row.algorithm = job.algorithm;
          if (job.algorithm == "cluster_kv" && o.clusters != 64) job.row.algorithm += ":" + std::to_string(o.clusters);
          block.push_back(job.row);
          if (std::isfinite(job.row.runtime_hit) && std::fabs(job.row.runtime_hit - job.row.hit[0]) > 1e-12)
            std::fprintf(stderr, "hsa-accuracy: warning: %s: the LRU replay at C = K (%.6f) differs from the "
                                 "runtime's hit rate (%.6f)\n",
                         job.algorithm.c_str(), job.row.hit[0], job.row.runtime_hit);
        }
        block.push_back(unit);
        for (Row& r : block) {
          r.workload = w->describe(), r.context = context, r.budget = budget, r.steps = o.steps;
          r.oracle_unit = unit.mass, r.oracle_token = token_mass;
          std::printf("| %s | %llu | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.algorithm.c_str(),
                      (unsigned long long)budget, fixed(r.mass).c_str(), fixed(r.mass / r.oracle_unit).c_str(),
                      fixed(r.mass / r.oracle_token).c_str(), fixed(r.error, "%.4f").c_str(),
                      fixed(r.overlap).c_str(), fixed(r.hit[0]).c_str(), fixed(r.hit[1]).c_str(),
                      fixed(r.hit[2]).c_str());
          if (csv)
            std::fprintf(csv, "%s,%llu,%s,%llu,%u,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f\n",
                         r.workload.c_str(), (unsigned long long)context, r.algorithm.c_str(),
                         (unsigned long long)budget, o.steps, r.mass, r.mass_min, r.oracle_unit, r.oracle_token,
                         r.mass / r.oracle_unit, r.mass / r.oracle_token, r.error, r.overlap, r.hit[0], r.hit[1],
                         r.hit[2]);
        }
        std::printf("| oracle (token) | %llu | %s | | 1.000 | | | | | |\n", (unsigned long long)budget,
                    fixed(token_mass).c_str());
      }
      std::fflush(stdout);
      if (csv) std::fflush(csv);
    }
  }
  if (csv) std::fclose(csv);
  if (!o.quiet)
    std::fprintf(stderr, "hsa-accuracy: %.1f s\n", std::chrono::duration<double>(Clock::now() - start).count());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  const std::string problem = parse_options(argc, argv, &options);
  if (options.help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (!problem.empty()) {
    std::fprintf(stderr, "hsa-accuracy: %s (see hsa-accuracy --help)\n", problem.c_str());
    return 2;
  }
  try {
    return run(options);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "hsa-accuracy: out of host memory (lower --context or --jobs)\n");
    return 3;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hsa-accuracy: %s\n", e.what());
    return 3;
  }
}
