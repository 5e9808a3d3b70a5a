// hsa-residency: should the device buffer of a token-level selection (DSA)
// hold token rows or pages of P tokens? Runs a page_size-1 layer on the CPU
// reference backend with hsa-run's synthetic workload and step inputs,
// records the selection the runtime made at every step (Runtime::
// selected_units), and replays it through LRU models of token residency (C
// slots of one row, what the runtime does; checked against the runtime's own
// hits and misses) and page residency (C / P slots of P rows: the same
// device memory). Reports per configuration the distinct pages per step, the
// hit rate, the rows and bytes moved host -> device and an estimated copy
// time, for the cold first step after prefill and the steady phase, and the
// top-k overlap of consecutive steps. See `hsa-residency --help`,
// runtime/tools/residency.h and docs/PERF.md "Token or page residency".
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "artifact.h"
#include "hsa/runtime.hpp"
#include "residency.h"
#include "run_support.h"
#include "runtime_internal.h"
#include "text_format.h"
#include "workload.h"

namespace {

using namespace hsa;
using namespace hsa::tools;
using residency::H2dModel;
using residency::LruBuffer;
using residency::SelectionTrace;
using residency::StepOutcome;
using Clock = std::chrono::steady_clock;

const char* kUsage =
    "usage: hsa-residency ARTIFACT [options]\n"
    "       hsa-residency --trace=PATH [model options]\n"
    "\n"
    "Token or page residency for a layer that selects single tokens (page_size 1: DSA, or a\n"
    "Quest p1 layer). Runs ARTIFACT on the CPU reference backend with hsa-run's synthetic\n"
    "workload and step inputs (prefill every request, then per step append one token to each\n"
    "and decode), reads back the tokens the runtime selected at every step (selected_units),\n"
    "and replays that selection through LRU buffer models (BRIEF.md's diff rule):\n"
    "  token    C slots of one token row (what the runtime does; its hits and misses are\n"
    "           checked against the runtime's own at every step)\n"
    "  page P   C / P slots of P consecutive tokens (the same device memory for the rows):\n"
    "           the distinct pages of the selected tokens are diffed, a missed page moves\n"
    "           its rows; when a step touches more pages than there are slots, the pages\n"
    "           left without a victim are streamed (their selected rows read for that step).\n"
    "For each: distinct pages per step, hit rate (selected tokens already resident), rows and\n"
    "bytes moved host -> device per step and an estimated copy time (a transfer-size dependent\n"
    "pinned H2D bandwidth curve), in the cold first step after prefill and the steady phase;\n"
    "and the top-k overlap of consecutive steps, of tokens and of pages.\n"
    "\n"
    "run options (a value follows '=' or comes as the next argument):\n"
    "  --batch=B                requests decoded together (default: the number of --context values)\n"
    "  --context=TOKENS         prompt length per request, one value or a comma list; K = x1024\n"
    "                           (default 32K)\n"
    "  --steps=S                decode steps (default 32)\n"
    "  --seed=N                 workload seed (default 1; the same data as hsa-run --seed=N)\n"
    "  --workload=NAME          hsa-run's workloads: drift (default), rope, outliers, topics, needles,\n"
    "                           sinks-recency, llm, or trace:PATH\n"
    "  --temperature=T          divide every logit by T (default: the preset's)\n"
    "  --query-jump=N           every N steps the queries jump to new directions (default 0: never)\n"
    "  --save-trace=PATH        also write the recorded selection (replay it with --trace)\n"
    "model options:\n"
    "  --trace=PATH             replay a selection written by --save-trace instead of running a layer\n"
    "  --pages=LIST             page sizes to model (default 8,16,32,64)\n"
    "  --capacity=LIST          device memory to compare at, in tokens per (request, group)\n"
    "                           (default: the layer's buffer capacity C)\n"
    "  --row-bytes=LIST         bytes per token row to count (default: the layer's row, and 656 for a\n"
    "                           576/512 latent layer: FlashMLA's fp8 row)\n"
    "  --overflow=POLICY        a step that touches more pages than slots: ascending (default; BRIEF.md's\n"
    "                           order: the highest missed pages stream) or densest (the missed pages with\n"
    "                           the most selected tokens take the slots, the sparsest stream)\n"
    "  --warmup=N               the steady phase is steps N.. (default 4; step 0 is the cold one)\n"
    "  --h2d-curve=LIST         the gather bandwidth, SIZE:GBPS points with SIZE the bytes of one\n"
    "                           transfer (default: the H200's measured curve, shared/CEILINGS.md)\n"
    "  --h2d-overhead-us=US     fixed cost of a step that copies anything (default 7)\n"
    "  --h2d-ceiling-gbps=G     one large pinned copy: the second estimate (default 55.3)\n"
    "  --json=PATH              every number of the summary, and per step, as JSON\n"
    "  --quiet                  no progress on stderr\n"
    "  --help                   this text\n"
    "\n"
    "exit status: 0 ok, 1 the token model disagreed with the runtime's own diff, 2 bad options,\n"
    "3 setup failed (artifact, layer, memory, trace), 4 a runtime call failed during the run.\n";

int fail(int exit_code, const std::string& what, const Status& status) {
  std::fprintf(stderr, "hsa-residency: %s: %s\n", what.c_str(), status.message().c_str());
  return exit_code;
}

// ---------------------------------------------------------------------------
// Options

struct Options {
  std::string artifact, trace_in, trace_out, json;
  uint32_t batch = 0;
  std::vector<uint64_t> contexts{32768};
  bool context_given = false;
  uint32_t steps = 32, query_jump = 0, warmup = 4;
  uint64_t seed = 1;
  std::string workload = "drift";
  float temperature = 0.0f;
  std::vector<uint64_t> pages{8, 16, 32, 64};
  std::vector<uint64_t> capacities;  // empty: the layer's
  std::vector<uint64_t> row_bytes;   // empty: the layer's (+ 656)
  H2dModel h2d = H2dModel::measured_h200();
  residency::Overflow overflow = residency::Overflow::Ascending;
  bool quiet = false, help = false;
};

bool parse_u64(std::string text, uint64_t* out) {
  uint64_t scale = 1;
  if (!text.empty() && (text.back() == 'K' || text.back() == 'k')) scale = 1024, text.pop_back();
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 12) return false;
  *out = std::strtoull(text.c_str(), nullptr, 10) * scale;
  return true;
}

// A comma list of numbers in [min, max]; "" or the problem.
std::string parse_list(const std::string& key, const std::string& value, uint64_t min, uint64_t max,
                       std::vector<uint64_t>* out) {
  out->clear();
  size_t start = 0;
  while (start <= value.size()) {
    const size_t comma = std::min(value.find(',', start), value.size());
    uint64_t v = 0;
    if (!parse_u64(value.substr(start, comma - start), &v) || v < min || v > max)
      return format_text("bad %s value '%s' (comma separated numbers in [%llu, %llu], K suffix = x1024)", key.c_str(),
                         value.c_str(), (unsigned long long)min, (unsigned long long)max);
    out->push_back(v);
    start = comma + 1;
  }
  return "";
}

std::string parse_options(int argc, char** argv, Options* o) {
  bool run_option = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0 && arg != "-h") {
      if (!o->artifact.empty()) return "more than one artifact given ('" + o->artifact + "' and '" + arg + "')";
      o->artifact = arg;
      continue;
    }
    const size_t eq = arg.find('=');
    const std::string key = arg.substr(0, eq);
    bool has_value = eq != std::string::npos;
    std::string value = has_value ? arg.substr(eq + 1) : "";
    static const char* const kValued[] = {"--batch", "--context", "--steps", "--seed", "--workload", "--temperature",
                                          "--query-jump", "--save-trace", "--trace", "--pages", "--capacity",
                                          "--row-bytes", "--warmup", "--h2d-curve", "--h2d-overhead-us",
                                          "--h2d-ceiling-gbps", "--json", "--overflow"};
    const bool valued = std::find(std::begin(kValued), std::end(kValued), key) != std::end(kValued);
    if (valued && !has_value) {
      if (i + 1 >= argc || std::string(argv[i + 1]).rfind("--", 0) == 0)
        return key + " needs a value (" + key + "=VALUE or " + key + " VALUE)";
      value = argv[++i];
      has_value = true;
    }
    if (!valued && has_value) return key + " takes no value";
    auto number = [&](uint64_t min, uint64_t max, uint64_t* target) {
      uint64_t v = 0;
      if (!parse_u64(value, &v) || v < min || v > max)
        return format_text("bad value for %s: '%s' (a number in [%llu, %llu])", key.c_str(), value.c_str(),
                           (unsigned long long)min, (unsigned long long)max);
      *target = v;
      return std::string();
    };
    auto real = [&](double min, double max, double* target) {
      char* end = nullptr;
      const double v = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != 0 || !(v >= min) || !(v <= max))
        return format_text("bad value for %s: '%s' (a number in [%g, %g])", key.c_str(), value.c_str(), min, max);
      *target = v;
      return std::string();
    };
    std::string problem;
    uint64_t v = 0;
    double d = 0;
    const bool is_run_option = key == "--batch" || key == "--context" || key == "--steps" || key == "--seed" ||
                               key == "--workload" || key == "--temperature" || key == "--query-jump" ||
                               key == "--save-trace";
    run_option = run_option || is_run_option;
    if (key == "--help" || key == "-h") o->help = true;
    else if (key == "--quiet") o->quiet = true;
    else if (key == "--batch") {
      problem = number(1, 65536, &v);
      o->batch = uint32_t(v);
    } else if (key == "--context") {
      o->context_given = true;
      problem = parse_list(key, value, 1, uint64_t(1) << 30, &o->contexts);
    } else if (key == "--steps") {
      problem = number(1, 1000000, &v);
      o->steps = uint32_t(v);
    } else if (key == "--seed") {
      problem = number(0, UINT64_MAX / 1024, &o->seed);
    } else if (key == "--query-jump") {
      problem = number(0, 1000000, &v);
      o->query_jump = uint32_t(v);
    } else if (key == "--warmup") {
      problem = number(1, 1000000, &v);
      o->warmup = uint32_t(v);
    } else if (key == "--workload") {
      workload::Params params;
      const Status known = value.rfind("trace:", 0) == 0 ? Status::ok() : workload::preset(value, &params);
      if (!known.is_ok()) problem = known.message();
      else if (value == "trace:") problem = "--workload=trace:PATH needs a path";
      o->workload = value;
    } else if (key == "--temperature") {
      problem = real(1e-3, 1000.0, &d);
      o->temperature = float(d);
    } else if (key == "--pages") {
      problem = parse_list(key, value, 2, 4096, &o->pages);
    } else if (key == "--capacity") {
      problem = parse_list(key, value, 1, uint64_t(1) << 30, &o->capacities);
    } else if (key == "--row-bytes") {
      problem = parse_list(key, value, 1, uint64_t(1) << 20, &o->row_bytes);
    } else if (key == "--overflow") {
      if (value == "ascending") o->overflow = residency::Overflow::Ascending;
      else if (value == "densest") o->overflow = residency::Overflow::Densest;
      else problem = "--overflow must be ascending or densest, not '" + value + "'";
    } else if (key == "--h2d-curve") {
      const Status parsed = o->h2d.parse_curve(value);
      if (!parsed.is_ok()) problem = parsed.message();
    } else if (key == "--h2d-overhead-us") {
      problem = real(0.0, 1e6, &o->h2d.overhead_us);
    } else if (key == "--h2d-ceiling-gbps") {
      problem = real(1e-3, 1e5, &o->h2d.ceiling_gbps);
    } else if (key == "--trace" || key == "--save-trace" || key == "--json") {
      if (value.empty()) problem = key + " needs a path";
      (key == "--trace" ? o->trace_in : key == "--save-trace" ? o->trace_out : o->json) = value;
    } else {
      problem = "unknown option " + key;
    }
    if (!problem.empty()) return problem;
  }
  if (o->help) return "";
  if (!o->trace_in.empty()) {
    if (!o->artifact.empty()) return "give an artifact or --trace, not both";
    if (run_option) return "--trace replays a recorded selection: the run options (--batch, --context, --steps, "
                           "--seed, --workload, --temperature, --query-jump, --save-trace) do not apply";
    return "";
  }
  if (o->artifact.empty()) return "no artifact given (or --trace=PATH)";
  if (o->batch == 0) o->batch = uint32_t(o->contexts.size());
  if (o->contexts.size() == 1) o->contexts.assign(o->batch, o->contexts[0]);
  if (o->contexts.size() != o->batch)
    return format_text("--batch=%u but --context lists %zu values (give one value, or one per request)", o->batch,
                       o->contexts.size());
  if (o->warmup >= o->steps)
    return format_text("--warmup=%u leaves no steady steps of --steps=%u (the steady phase is steps %u..%u)",
                       o->warmup, o->steps, o->warmup, o->steps - 1);
  return "";
}

// ---------------------------------------------------------------------------
// Running the layer: the selection of every step, and the runtime's stats.

int record(const Options& opt, SelectionTrace* trace, std::vector<StepStats>* runtime_stats) {
  std::vector<uint64_t> contexts = opt.contexts;
  if (opt.workload.rfind("trace:", 0) == 0 && !opt.context_given) {
    workload::TraceHeader header;
    const Status read = workload::read_trace_header(opt.workload.substr(6), &header);
    if (!read.is_ok()) return fail(2, "bad --workload", read);
    contexts.assign(opt.batch, header.prompt_tokens);
  }
  std::vector<uint8_t> bytes;
  Status status = read_artifact_file(opt.artifact, &bytes);
  if (!status.is_ok()) return fail(3, "cannot load '" + opt.artifact + "'", status);
  Artifact probe;
  status = load_artifact(bytes.data(), bytes.size(), &probe);
  if (!status.is_ok()) return fail(3, "cannot load '" + opt.artifact + "'", status);
  if (probe.config.page_size != 1)
    return fail(3, "'" + opt.artifact + "' cannot be studied",
                Status(StatusCode::InvalidArgument,
                       format_text("its layer selects units of %u tokens (page_size %u); token or page residency is a "
                                   "question for a layer that selects single tokens (page_size 1: DSA, Quest p1)",
                                   probe.config.page_size, probe.config.page_size)));
  const uint64_t longest = *std::max_element(contexts.begin(), contexts.end());
  uint64_t pool_pages = 0;
  for (uint64_t c : contexts) pool_pages += c + opt.steps;
  if (pool_pages > UINT32_MAX / 2)
    return fail(3, "workload too large", Status(StatusCode::OutOfCapacity, std::to_string(pool_pages) + " host pages"));
  RuntimeOptions options;
  options.backend = BackendKind::Cpu;
  options.max_batch = opt.batch;
  options.max_context_tokens = longest + opt.steps;
  options.pool_pages = uint32_t(pool_pages);
  std::unique_ptr<Runtime> rt;
  status = Runtime::create(options, &rt);
  if (!status.is_ok()) return fail(3, "cannot create the runtime", status);
  status = rt->load_artifact(bytes.data(), bytes.size());
  if (!status.is_ok()) return fail(3, "cannot load '" + opt.artifact + "' into the cpu backend", status);
  LayerInfo info;
  status = rt->layer_info(&info);
  if (!status.is_ok()) return fail(3, "layer_info failed", status);
  // The package's step inputs are made from the step's tensors with the
  // layer's shape (internal: the runtime's own tools' access).
  const LayerShape& s = RuntimeInternals::shape(*rt);

  std::unique_ptr<workload::Workload> workload;
  workload::Dims dims;
  dims.q_heads = s.q_heads, dims.kv_heads = s.kv_heads, dims.head_dim = s.head_dim, dims.value_dim = s.value_dim;
  dims.dtype = s.act_dtype;  // bf16 rows for an fp8 latent cache, quantised before they go in
  workload::Overrides overrides;
  overrides.temperature = opt.temperature;
  status = workload::make_workload(opt.workload, dims, opt.seed, contexts, opt.steps, overrides, &workload);
  if (!status.is_ok()) return fail(2, "bad --workload", status);
  trace->run = format_text("%s on the cpu reference, seed %" PRIu64 "%s", workload->describe().c_str(),
                                 opt.seed,
                                 opt.query_jump ? format_text(", queries jump every %u steps", opt.query_jump).c_str()
                                                : "");

  trace->layer = (info.name.empty() ? std::string("(unnamed layer)") : info.name) + " (" + info.algorithm +
                 format_text(": Hq %u, Hkv %u, D %u/%u, %s, K %u, C %u, %s scope)", info.num_q_heads,
                             info.num_kv_heads, info.head_dim, info.value_dim,
                             kv_dtype_name(info.kv_dtype), info.budget_units,
                             info.capacity_units, info.scope == artifact::SelectionScope::Request ? "request" : "kv_head");
  trace->batch = opt.batch;
  trace->groups = s.groups;
  trace->budget = s.budget;
  trace->capacity = s.capacity;
  trace->steps = opt.steps;
  trace->row_bytes = s.unit_bytes();
  trace->max_context = options.max_context_tokens;
  trace->prompts = contexts;
  trace->lengths.assign(size_t(opt.steps) * opt.batch, 0);
  trace->tokens.assign(size_t(opt.steps) * opt.batch * s.groups * s.budget, -1);

  std::vector<RequestId> ids(opt.batch);
  for (RequestId& id : ids) {
    status = rt->create_request(&id);
    if (!status.is_ok()) return fail(3, "cannot create a request", status);
  }
  uint64_t total_prompt = 0;
  for (uint64_t c : contexts) total_prompt += c;
  const auto start = Clock::now();
  auto seconds = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  std::mt19937_64 input_rng(opt.seed ^ 0x5eed1dea);  // hsa-run's stream for the step inputs
  StepInputFeed feed;
  std::vector<uint16_t> k, v;
  std::vector<uint8_t> stored_k;  // fp8 latent rows of k (Fp8Latent layers)
  uint64_t done = 0, next_report = total_prompt / 10;
  for (uint32_t b = 0; b < opt.batch; ++b)
    for (uint64_t first = 0; first < contexts[b]; first += 8192) {
      const uint64_t count = std::min<uint64_t>(8192, contexts[b] - first);
      workload->prompt(b, first, count, &k, &v);
      feed.fill(s, StepKind::Append, count, input_rng, k.data());
      status = rt->prefill(ids[b], stored_key_rows(s, k.data(), count, &stored_k), v.data(), count, feed.inputs(),
                           feed.count());
      if (!status.is_ok()) return fail(3, format_text("prefill of request %u failed", b), status);
      done += count;
      if (!opt.quiet && total_prompt >= 65536 && done >= next_report) {
        std::fprintf(stderr, "  prefill %3.0f%% (%" PRIu64 " of %" PRIu64 " tokens, %.1f s)\n",
                     100.0 * double(done) / double(total_prompt), done, total_prompt, seconds());
        next_report = done + total_prompt / 10;
      }
    }
  for (uint32_t b = 0; b < opt.batch; ++b) {
    status = rt->finish_prefill(ids[b]);
    if (!status.is_ok()) return fail(3, format_text("building the representations of request %u failed", b), status);
  }
  if (!opt.quiet) std::fprintf(stderr, "  prefill done: %" PRIu64 " tokens in %.1f s\n", total_prompt, seconds());

  const size_t row_k = size_t(s.kv_heads) * s.head_dim, row_v = size_t(s.kv_heads) * s.value_dim;
  const size_t row_q = size_t(s.q_heads) * s.head_dim, row_o = size_t(s.q_heads) * s.value_dim;
  const size_t selection = size_t(s.groups) * s.budget;
  std::vector<uint16_t> new_k(opt.batch * row_k), new_v(opt.batch * row_v), q(opt.batch * row_q), o(opt.batch * row_o);
  const auto decode_start = Clock::now();
  for (uint32_t step = 0; step < opt.steps; ++step) {
    for (uint32_t b = 0; b < opt.batch; ++b) workload->next_token(b, &new_k[b * row_k], &new_v[b * row_v]);
    feed.fill(s, StepKind::Append, opt.batch, input_rng, new_k.data());
    status = rt->append(ids.data(), opt.batch, stored_key_rows(s, new_k.data(), opt.batch, &stored_k),
                        s.has_separate_v ? new_v.data() : nullptr, feed.inputs(),
                        feed.count());
    if (!status.is_ok()) return fail(4, format_text("append at step %u failed", step), status);
    const bool jump = opt.query_jump > 0 && step > 0 && step % opt.query_jump == 0;
    for (uint32_t b = 0; b < opt.batch; ++b) {
      if (jump) workload->jump_query(b);
      workload->next_query(b, &q[b * row_q]);
    }
    feed.fill(s, StepKind::Decode, opt.batch, input_rng, q.data());
    StepStats stats;
    status = rt->decode_step(ids.data(), opt.batch, q.data(), o.data(), &stats, feed.inputs(), feed.count());
    if (!status.is_ok()) return fail(4, format_text("decode step %u failed", step), status);
    runtime_stats->push_back(stats);
    for (uint32_t b = 0; b < opt.batch; ++b) {
      int32_t* units = &trace->tokens[(size_t(step) * opt.batch + b) * selection];
      status = rt->selected_units(ids[b], units, selection);
      if (!status.is_ok()) return fail(4, "selected_units failed", status);
      trace->lengths[size_t(step) * opt.batch + b] = contexts[b] + step + 1;
    }
    if (!opt.quiet && opt.steps >= 4 && ((step + 1) % ((opt.steps + 9) / 10) == 0 || step + 1 == opt.steps)) {
      const double per_step = std::chrono::duration<double>(Clock::now() - decode_start).count() / (step + 1);
      std::fprintf(stderr, "  step %u/%u: runtime hit rate %.1f%%, %.2f s per step, about %.0f s left\n", step + 1,
                   opt.steps, 100.0 * stats.hit_rate, per_step, per_step * (opt.steps - step - 1));
    }
  }
  return 0;
}

// ---------------------------------------------------------------------------
// Replaying a selection through the models

struct Config {
  std::string name;  // "token", "page 16"
  uint32_t page_tokens = 1, slots = 0;
  uint64_t capacity_tokens = 0;  // the memory point this config belongs to
};

// A configuration's step, summed over the batch's buffers.
struct StepSum {
  uint64_t tokens = 0, pages = 0, hit_tokens = 0, hit_pages = 0, miss_pages = 0, miss_rows = 0, evictions = 0;
  uint64_t streamed_pages = 0, streamed_rows = 0;
  double page_overlap_sum = 0.0;  // sum over buffers of |D_t & D_t-1| / |D_t| (steps > 0)
  uint64_t page_overlap_count = 0;
  std::map<uint32_t, uint64_t> copies;  // rows per copy -> copies
};

struct Replay {
  Config config;
  std::vector<StepSum> steps;
};

// Estimated copy time of one step (microseconds) for rows of `row_bytes`:
// by the curve, and at the pinned ceiling.
double copy_us(const H2dModel& h2d, const StepSum& s, uint64_t row_bytes) {
  if (s.miss_rows + s.streamed_rows == 0) return 0.0;
  double us = h2d.overhead_us + h2d.transfer_us(double(row_bytes), s.streamed_rows);
  for (const auto& c : s.copies) us += h2d.transfer_us(double(c.first) * double(row_bytes), c.second);
  return us;
}
double ceiling_us(const H2dModel& h2d, const StepSum& s, uint64_t row_bytes) {
  const double bytes = double(s.miss_rows + s.streamed_rows) * double(row_bytes);
  return bytes > 0 ? h2d.overhead_us + bytes / (h2d.ceiling_gbps * 1e3) : 0.0;
}

Replay replay(const SelectionTrace& t, const Config& c, residency::Overflow overflow) {
  Replay r;
  r.config = c;
  std::vector<LruBuffer> buffers(size_t(t.batch) * t.groups, LruBuffer(c.page_tokens, c.slots, overflow));
  for (uint32_t step = 0; step < t.steps; ++step) {
    StepSum sum;
    for (uint32_t b = 0; b < t.batch; ++b)
      for (uint32_t g = 0; g < t.groups; ++g) {
        const int32_t* tokens = t.selection(step, b, g);
        size_t count = 0;
        while (count < t.budget && tokens[count] >= 0) ++count;
        LruBuffer& buffer = buffers[size_t(b) * t.groups + g];
        const StepOutcome o = buffer.step(tokens, count, t.lengths[size_t(step) * t.batch + b], int32_t(step));
        sum.tokens += o.tokens, sum.pages += o.pages, sum.hit_tokens += o.hit_tokens, sum.hit_pages += o.hit_pages;
        sum.miss_pages += o.miss_pages, sum.miss_rows += o.miss_rows, sum.evictions += o.evictions;
        sum.streamed_pages += o.streamed_pages, sum.streamed_rows += o.streamed_rows;
        if (step > 0 && o.pages) sum.page_overlap_sum += double(o.common_pages) / double(o.pages), ++sum.page_overlap_count;
        for (uint32_t rows : buffer.step_copy_rows()) ++sum.copies[rows];
      }
    r.steps.push_back(std::move(sum));
  }
  return r;
}

// Means over a phase's steps [first, end).
struct Phase {
  const char* name;
  uint32_t first, end;
};

struct PhaseMeans {
  double pages_per_buffer = 0, max_pages_per_buffer = 0, hit_rate = 0, page_hit_rate = 0, miss_rows = 0,
         copies = 0, streamed_rows = 0, evictions = 0, page_overlap = NAN, overflow_steps = 0, useful_rows = NAN;
  std::vector<double> bytes, copy_us, ceiling_us;  // per row size
};

PhaseMeans means(const SelectionTrace& t, const Replay& r, const Phase& phase, const std::vector<uint64_t>& row_bytes,
                 const H2dModel& h2d, const std::vector<uint64_t>& max_pages) {
  PhaseMeans m;
  const double n = double(phase.end - phase.first), buffers = double(t.batch) * t.groups;
  uint64_t tokens = 0, hits = 0, pages = 0, hit_pages = 0, moved = 0, useful = 0;
  double overlap = 0;
  uint64_t overlap_count = 0;
  m.bytes.assign(row_bytes.size(), 0.0);
  m.copy_us.assign(row_bytes.size(), 0.0);
  m.ceiling_us.assign(row_bytes.size(), 0.0);
  for (uint32_t i = phase.first; i < phase.end; ++i) {
    const StepSum& s = r.steps[i];
    tokens += s.tokens, hits += s.hit_tokens, pages += s.pages, hit_pages += s.hit_pages;
    m.pages_per_buffer += double(s.pages) / buffers / n;
    m.max_pages_per_buffer = std::max(m.max_pages_per_buffer, double(max_pages[i]));
    m.miss_rows += double(s.miss_rows) / n;
    m.streamed_rows += double(s.streamed_rows) / n;
    m.evictions += double(s.evictions) / n;
    uint64_t copies = s.streamed_rows;
    for (const auto& c : s.copies) copies += c.second;
    m.copies += double(copies) / n;
    m.overflow_steps += s.streamed_pages > 0;
    overlap += s.page_overlap_sum, overlap_count += s.page_overlap_count;
    moved += s.miss_rows + s.streamed_rows;
    // Rows moved that the step attends: the misses' selected tokens.
    useful += (s.tokens - s.hit_tokens);
    for (size_t k = 0; k < row_bytes.size(); ++k) {
      m.bytes[k] += double(s.miss_rows + s.streamed_rows) * double(row_bytes[k]) / n;
      m.copy_us[k] += copy_us(h2d, s, row_bytes[k]) / n;
      m.ceiling_us[k] += ceiling_us(h2d, s, row_bytes[k]) / n;
    }
  }
  m.hit_rate = tokens ? double(hits) / double(tokens) : NAN;
  m.page_hit_rate = pages ? double(hit_pages) / double(pages) : NAN;
  if (overlap_count) m.page_overlap = overlap / double(overlap_count);
  if (moved) m.useful_rows = double(useful) / double(moved);
  return m;
}

std::string join(const std::vector<uint64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

int report(const Options& opt, const SelectionTrace& t, const std::vector<StepStats>& runtime_stats,
           double run_seconds) {
  const std::string& run_description = t.run;
  // Row sizes: the layer's row; a 576/512 latent row (1152 B bf16) also as FlashMLA's 656-B fp8 row.
  std::vector<uint64_t> row_bytes = opt.row_bytes;
  if (row_bytes.empty()) {
    row_bytes.push_back(t.row_bytes);
    if (t.row_bytes == 1152 && t.layer.find("D 576/512") != std::string::npos) row_bytes.push_back(656);
  }
  std::vector<uint64_t> capacities = opt.capacities.empty() ? std::vector<uint64_t>{t.capacity} : opt.capacities;
  for (uint64_t c : capacities)
    if (c < t.budget)
      return fail(2, "bad --capacity",
                  Status(StatusCode::InvalidArgument,
                         format_text("%llu tokens is below the budget K = %u: token residency needs C >= K "
                                     "(BRIEF.md)", (unsigned long long)c, t.budget)));
  for (uint64_t p : opt.pages)
    for (uint64_t c : capacities)
      if (p > c)
        return fail(2, "bad --pages",
                    Status(StatusCode::InvalidArgument,
                           format_text("a page of %llu tokens does not fit a capacity of %llu tokens",
                                       (unsigned long long)p, (unsigned long long)c)));
  if (opt.warmup >= t.steps)
    return fail(2, "bad --warmup",
                Status(StatusCode::InvalidArgument,
                       format_text("--warmup=%u leaves no steady steps of the trace's %u", opt.warmup, t.steps)));

  // Token top-k overlap |S_t & S_t-1| / |S_t| (as hsa-run), from the trace.
  Stats token_overlap;
  for (uint32_t step = 1; step < t.steps; ++step) {
    double sum = 0;
    uint64_t count = 0;
    for (uint32_t b = 0; b < t.batch; ++b)
      for (uint32_t g = 0; g < t.groups; ++g) {
        const int32_t *a = t.selection(step, b, g), *p = t.selection(step - 1, b, g);
        uint32_t size = 0, common = 0;
        while (size < t.budget && a[size] >= 0) ++size;
        for (uint32_t i = 0, j = 0; i < size && j < t.budget && p[j] >= 0;) {
          if (a[i] == p[j]) ++common, ++i, ++j;
          else if (a[i] < p[j]) ++i;
          else ++j;
        }
        if (size) sum += double(common) / size, ++count;
      }
    if (count) token_overlap.add(sum / double(count));
  }

  std::vector<Config> configs;
  for (uint64_t c : capacities) {
    configs.push_back(Config{"token", 1, uint32_t(c), c});
    for (uint64_t p : opt.pages)
      configs.push_back(Config{"page " + std::to_string(p), uint32_t(p),
                               residency::equal_memory_slots(c, uint32_t(p)), c});
  }
  std::vector<Replay> replays;
  try {
    for (const Config& c : configs) replays.push_back(replay(t, c, opt.overflow));
  } catch (const std::invalid_argument& e) {
    return fail(3, "the selection cannot be replayed", Status(StatusCode::InvalidArgument, e.what()));
  }
  // The most distinct pages of one buffer per step (for "max pages"), per config: recomputed cheaply.
  auto max_pages_of = [&](uint32_t P) {
    std::vector<uint64_t> out(t.steps, 0);
    for (uint32_t step = 0; step < t.steps; ++step)
      for (uint32_t b = 0; b < t.batch; ++b)
        for (uint32_t g = 0; g < t.groups; ++g) {
          const int32_t* x = t.selection(step, b, g);
          uint64_t pages = 0;
          for (uint32_t i = 0; i < t.budget && x[i] >= 0; ++i)
            if (i == 0 || x[i] / int32_t(P) != x[i - 1] / int32_t(P)) ++pages;
          out[step] = std::max(out[step], pages);
        }
    return out;
  };

  // The token model at the layer's own capacity is the runtime's diff: same hits and misses at every step.
  std::string check_line = "not checked (replayed from a trace)";
  if (!runtime_stats.empty()) {
    const Replay* token = nullptr;
    for (const Replay& r : replays)
      if (r.config.page_tokens == 1 && r.config.slots == t.capacity) token = &r;
    if (!token) {
      Config c{"token", 1, t.capacity, t.capacity};
      replays.push_back(replay(t, c, opt.overflow));
      token = &replays.back();
    }
    for (uint32_t step = 0; step < t.steps; ++step) {
      const StepStats& rs = runtime_stats[step];
      const StepSum& ms = token->steps[step];
      if (rs.units_selected != ms.tokens || rs.hits != ms.hit_tokens || rs.misses != ms.miss_rows ||
          ms.streamed_rows != 0) {
        std::fprintf(stderr,
                     "hsa-residency: the token model disagrees with the runtime's own diff at step %u: runtime "
                     "selected %" PRIu64 ", hits %" PRIu64 ", misses %" PRIu64 "; model %" PRIu64 ", %" PRIu64
                     ", %" PRIu64 " (streamed %" PRIu64 ")\n",
                     step, rs.units_selected, rs.hits, rs.misses, ms.tokens, ms.hit_tokens, ms.miss_rows,
                     ms.streamed_rows);
        return 1;
      }
    }
    check_line = format_text("the token model at C %u equals the runtime's own hits and misses at all %u steps",
                             t.capacity, t.steps);
    if (opt.capacities.size() && std::find(capacities.begin(), capacities.end(), t.capacity) == capacities.end())
      replays.pop_back();
  }

  const Phase cold{"cold", 0, 1}, steady{"steady", opt.warmup, t.steps};
  std::map<uint32_t, std::vector<uint64_t>> max_pages;
  for (const Replay& r : replays)
    if (!max_pages.count(r.config.page_tokens)) max_pages[r.config.page_tokens] = max_pages_of(r.config.page_tokens);

  // The summary.
  std::string prompts;
  const bool same = std::all_of(t.prompts.begin(), t.prompts.end(), [&](uint64_t p) { return p == t.prompts[0]; });
  prompts = same ? std::to_string(t.prompts[0]) + (t.batch > 1 ? " tokens each" : " tokens") : join(t.prompts) + " tokens";
  std::printf("hsa-residency: %s\n", opt.trace_in.empty() ? opt.artifact.c_str() : ("trace " + opt.trace_in).c_str());
  std::printf("  layer        %s\n", t.layer.c_str());
  std::printf("  run          %s: B %u, prompts of %s, %u decode steps%s\n",
              run_description.empty() ? "recorded selection" : run_description.c_str(), t.batch, prompts.c_str(),
              t.steps, run_seconds > 0 ? format_text(" (%.0f s)", run_seconds).c_str() : "");
  std::printf("  check        %s\n", check_line.c_str());
  std::printf("  top-k overlap %.4f of the tokens (|S_t & S_t-1| / |S_t|, mean over requests, groups, steps 1..%u)\n",
              token_overlap.mean(), t.steps - 1);
  std::printf("  phases       cold = step 0 (empty buffer after prefill); steady = steps %u..%u (means per step)\n",
              opt.warmup, t.steps - 1);
  std::printf("  overflow     %s\n", opt.overflow == residency::Overflow::Ascending
                                           ? "ascending: in a step with more missed pages than victims, the highest "
                                             "stream (BRIEF.md's order)"
                                           : "densest: in a step with more missed pages than victims, the sparsest "
                                             "stream");
  std::printf("  copy time    %s; the second figure is the same bytes at the pinned ceiling\n", opt.h2d.source.c_str());
  std::string rows_text;
  for (size_t k = 0; k < row_bytes.size(); ++k) rows_text += (k ? " / " : "") + std::to_string(row_bytes[k]) + " B";
  for (uint64_t capacity : capacities) {
    std::printf("\n  equal device memory: %llu tokens per (request, group) = %s of rows (rows of %s); per layer "
                "step, summed over the %u request%s:\n",
                (unsigned long long)capacity,
                [&] {
                  std::string s;
                  for (size_t k = 0; k < row_bytes.size(); ++k)
                    s += (k ? " / " : "") + bytes_text(double(capacity) * double(row_bytes[k]));
                  return s;
                }().c_str(),
                rows_text.c_str(), t.batch, t.batch == 1 ? "" : "s");
    for (uint64_t p : opt.pages)
      if (capacity % p != 0)
        std::printf("  (P %llu does not divide %llu: its %u slots hold %llu tokens, less memory than the token "
                    "buffer)\n",
                    (unsigned long long)p, (unsigned long long)capacity,
                    residency::equal_memory_slots(capacity, uint32_t(p)),
                    (unsigned long long)(residency::equal_memory_slots(capacity, uint32_t(p)) * p));
    for (const Phase& phase : {steady, cold}) {
      std::string head;
      for (uint64_t rb : row_bytes) head += format_text(" | %6s B rows: MiB  copy us (ceiling)", std::to_string(rb).c_str());
      std::printf("  %-6s %-7s %6s %11s %6s %6s %10s %7s %8s %6s%s\n", phase.name, "", "slots", "pages/req", "hit",
                  "p.ovl", "rows moved", "copies", "overflow", "useful", head.c_str());
      for (const Replay& r : replays) {
        if (r.config.capacity_tokens != capacity) continue;
        const PhaseMeans m = means(t, r, phase, row_bytes, opt.h2d, max_pages[r.config.page_tokens]);
        std::string cells;
        for (size_t k = 0; k < row_bytes.size(); ++k)
          cells += format_text(" | %14.3f %8.1f (%6.1f)", m.bytes[k] / double(1 << 20), m.copy_us[k], m.ceiling_us[k]);
        std::printf("  %-6s %-7s %6u %11s %6s %6s %10.1f %7.1f %8s %6s%s\n", "", r.config.name.c_str(), r.config.slots,
                    format_text("%.0f/%.0f", m.pages_per_buffer, m.max_pages_per_buffer).c_str(),
                    percent_text(m.hit_rate).c_str(), number_text(m.page_overlap, "%.3f").c_str(),
                    m.miss_rows + m.streamed_rows, m.copies,
                    format_text("%.0f/%u", m.overflow_steps, phase.end - phase.first).c_str(),
                    percent_text(m.useful_rows).c_str(), cells.c_str());
      }
    }
  }
  std::printf("\n  pages/req: distinct pages of one request's (and group's) selection, mean/max; hit: selected tokens\n"
              "  whose page was resident; p.ovl: overlap of consecutive steps' page sets; rows moved: the missed\n"
              "  pages' rows + streamed rows (copies: transfers); overflow: steps that touched more pages than\n"
              "  slots (the pages left without a victim streamed); useful: moved rows the step attends.\n");

  if (!opt.json.empty()) {
    Json j;
    j.begin();
    j.str("tool", "hsa-residency").str("source", opt.trace_in.empty() ? opt.artifact : opt.trace_in);
    j.str("layer", t.layer).str("run", run_description);
    j.integer("batch", t.batch).integer("groups", t.groups).integer("budget", t.budget);
    j.integer("layer_capacity", t.capacity).integer("steps", t.steps).integer("layer_row_bytes", t.row_bytes);
    j.integer("max_context_tokens", t.max_context);
    j.begin("prompts", '[');
    for (uint64_t p : t.prompts) j.integer(nullptr, p);
    j.end(']');
    j.boolean("runtime_checked", !runtime_stats.empty()).num("run_seconds", run_seconds);
    j.num("topk_overlap", token_overlap.mean());
    j.str("overflow_policy", opt.overflow == residency::Overflow::Ascending ? "ascending" : "densest");
    j.begin("phases").begin("cold").integer("first", cold.first).integer("end", cold.end).end();
    j.begin("steady").integer("first", steady.first).integer("end", steady.end).end().end();
    j.begin("h2d_model").str("source", opt.h2d.source).num("overhead_us", opt.h2d.overhead_us);
    j.num("ceiling_gbps", opt.h2d.ceiling_gbps).begin("curve", '[');
    for (const auto& p : opt.h2d.curve) j.begin().num("bytes", p.first).num("gbps", p.second).end();
    j.end(']').end();
    j.begin("row_bytes", '[');
    for (uint64_t r : row_bytes) j.integer(nullptr, r);
    j.end(']');
    j.begin("configs", '[');
    for (const Replay& r : replays) {
      j.begin().str("name", r.config.name).str("residency", r.config.page_tokens == 1 ? "token" : "page");
      j.integer("page_tokens", r.config.page_tokens).integer("slots", r.config.slots);
      j.integer("capacity_tokens", r.config.capacity_tokens);
      j.begin("memory", '[');
      for (uint64_t rb : row_bytes) {
        const residency::BufferBytes bb =
            residency::buffer_bytes(r.config.page_tokens, r.config.slots, rb, t.max_context);
        j.begin().integer("row_bytes", rb).integer("rows_bytes", bb.rows).integer("bookkeeping_bytes", bb.bookkeeping).end();
      }
      j.end(']');
      for (const Phase& phase : {cold, steady}) {
        const PhaseMeans m = means(t, r, phase, row_bytes, opt.h2d, max_pages[r.config.page_tokens]);
        j.begin(phase.name).num("pages_per_request", m.pages_per_buffer).num("max_pages_per_request", m.max_pages_per_buffer);
        j.num("hit_rate", m.hit_rate).num("page_hit_rate", m.page_hit_rate).num("page_overlap", m.page_overlap);
        j.num("rows_moved", m.miss_rows + m.streamed_rows).num("miss_rows", m.miss_rows);
        j.num("streamed_rows", m.streamed_rows).num("copies", m.copies).num("evictions", m.evictions);
        j.num("overflow_steps", m.overflow_steps).num("useful_row_fraction", m.useful_rows);
        j.begin("per_row_bytes", '[');
        for (size_t k = 0; k < row_bytes.size(); ++k)
          j.begin().integer("row_bytes", row_bytes[k]).num("bytes_h2d", m.bytes[k]).num("copy_us", m.copy_us[k])
              .num("copy_us_at_ceiling", m.ceiling_us[k]).end();
        j.end(']').end();
      }
      j.integer("per_step_row_bytes", row_bytes[0]);
      j.begin("per_step", '[');
      for (size_t i = 0; i < r.steps.size(); ++i) {
        const StepSum& s = r.steps[i];
        j.begin().integer("step", i).integer("tokens", s.tokens).integer("pages", s.pages);
        j.integer("hit_tokens", s.hit_tokens).integer("hit_pages", s.hit_pages).integer("miss_pages", s.miss_pages);
        j.integer("miss_rows", s.miss_rows).integer("streamed_pages", s.streamed_pages);
        j.integer("streamed_rows", s.streamed_rows).integer("evictions", s.evictions);
        j.num("copy_us", copy_us(opt.h2d, s, row_bytes[0])).end();  // at per_step_row_bytes
      }
      j.end(']').end();
    }
    j.end(']');
    j.end();
    if (!write_text_file("hsa-residency", opt.json, j.text())) return 4;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  const std::string problem = parse_options(argc, argv, &opt);
  if (opt.help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (!problem.empty()) {
    std::fprintf(stderr, "hsa-residency: %s (see hsa-residency --help)\n", problem.c_str());
    return 2;
  }
  for (const std::string* path : {&opt.json, &opt.trace_out}) {
    if (path->empty()) continue;
    const std::string why = check_writable(*path);
    if (!why.empty()) {
      std::fprintf(stderr, "hsa-residency: cannot write '%s': %s (nothing was run)\n", path->c_str(), why.c_str());
      return 2;
    }
  }
  try {
    SelectionTrace trace;
    std::vector<StepStats> runtime_stats;
    double seconds = 0;
    if (!opt.trace_in.empty()) {
      const Status status = SelectionTrace::read(opt.trace_in, &trace);
      if (!status.is_ok()) return fail(3, "bad --trace", status);
    } else {
      const auto start = Clock::now();
      const int rc = record(opt, &trace, &runtime_stats);
      if (rc != 0) return rc;
      seconds = std::chrono::duration<double>(Clock::now() - start).count();
      if (!opt.trace_out.empty()) {
        const Status status = trace.write(opt.trace_out);
        if (!status.is_ok()) return fail(4, "--save-trace", status);
      }
    }
    return report(opt, trace, runtime_stats, seconds);
  } catch (const std::bad_alloc&) {
    return fail(3, "out of host memory", Status(StatusCode::OutOfMemory, "allocation failed"));
  }
}
