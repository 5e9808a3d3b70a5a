// hsa-run: runs an artifact's attention layer on a synthetic decoding workload
// and reports what the runtime did: hit rate, host->device bytes, device
// memory per request, top-k overlap, attention mass captured, timings; with
// --check every decode step goes through the stage checker (src/stage_check.h).
// See `hsa-run --help` and docs/RUNTIME.md.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <future>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "artifact.h"
#include "fp8.h"
#include "half.h"
#include "hsa/sha256.h"
#include "text_format.h"
#include "hsa/runtime.hpp"
#include "run_support.h"
#include "runtime_internal.h"
#include "stage_check.h"
#include "workload.h"

namespace {

using namespace hsa;
using namespace hsa::tools;
using Clock = std::chrono::steady_clock;

const char* kUsage =
    "usage: hsa-run ARTIFACT [options]\n"
    "\n"
    "Runs the attention layer of ARTIFACT (an hsa artifact, format v5) on a synthetic\n"
    "decoding workload: prefill every request, then per step append one token to each\n"
    "request and run one decode step. Prints a summary of what the runtime did.\n"
    "\n"
    "options (a value follows '=' or comes as the next argument: --steps=8 or --steps 8):\n"
    "  --backend=cpu|cuda|auto  execution backend (default auto: cuda if a GPU is usable)\n"
    "  --batch=B                requests decoded together (default: the number of --context values)\n"
    "  --context=TOKENS         prompt length per request: one value for all, or a comma list with one\n"
    "                           value per request (e.g. 1000,131072); K suffix = x1024 (default 8192)\n"
    "  --steps=S                decode steps (default 32); max context = longest prompt + S\n"
    "  --seed=N                 workload seed (default 1)\n"
    "  --workload=NAME          the decoding workload: a preset (drift, the default; rope, outliers,\n"
    "                           topics, needles, sinks-recency, llm) or trace:PATH (a recorded trace,\n"
    "                           docs/ACCURACY.md; its prompt length is the default --context)\n"
    "  --temperature=T          divide every logit by T (default: the preset's, 1)\n"
    "  --query-jump=N           every N steps each request's queries jump to new random directions\n"
    "                           (default 0: never), so the selection changes and, once the buffer\n"
    "                           is full, misses evict resident units\n"
    "  --check                  check every decode step stage by stage against the CPU reference;\n"
    "                           exit 1 with the first mismatch\n"
    "  --sha256=HEX             load the artifact only if its SHA-256 is HEX (64 hex digits: the digest\n"
    "                           hsa-compile printed, or hsa-run's 'artifact' line); exit 3 otherwise\n"
    "  --json=PATH              write every number of the summary (and per-step values) as JSON\n"
    "                           (checked for writability before the run)\n"
    "  --graph                  capture the decode step in a CUDA graph and replay it (cuda)\n"
    "  --profile                time every kernel (cuda, not with --graph) or reference stage (cpu)\n"
    "  --telemetry              per request and step, the runtime's online bound of the attention\n"
    "                           mass the selection missed (Quest; cpu backend so far), compared with\n"
    "                           the true missed mass of request 0 (docs/ACCURACY.md, \"Telemetry\")\n"
    "  --quiet                  no progress on stderr\n"
    "  --help                   this text\n"
    "\n"
    "workload drift: random-normal bf16 keys and values; per request and KV head a key direction;\n"
    "queries start near it and drift slowly (q_t = normalize(q_{t-1} + noise)); attention\n"
    "sinks (the first 4 tokens' keys aligned with it), a recency bias (recent tokens more\n"
    "aligned) and 8 far 'needle' tokens per KV head whose keys align with it. The other\n"
    "presets (runtime/tools/workload.h, docs/ACCURACY.md) add RoPE, outlier channels, topics,\n"
    "needles at set distances or sinks with steep recency. Accuracy against dense attention and\n"
    "the oracle, for every algorithm: hsa-accuracy.\n"
    "\n"
    "exit status: 0 ok, 1 --check found a mismatch, 2 bad options, 3 setup failed (artifact,\n"
    "backend, memory), 4 a runtime call failed during the run.\n";

// What to do about a failed status, for the person at the terminal.
// (The versions: artifact_format.h kFormatVersion, kKernelAbiVersion.)
const char* advice(StatusCode code) {
  static_assert(artifact::kFormatVersion == 5 && artifact::kKernelAbiVersion == 2, "update the versions named below");
  switch (code) {
    case StatusCode::InvalidArtifact:
      return "regenerate the artifact with a compiler of this version (artifact format v5, kernel ABI v2); "
             "a corrupted file or one from another version cannot be loaded";
    case StatusCode::NotFound: return "check the path of the artifact";
    case StatusCode::Unavailable: return "no usable CUDA driver or GPU here: run with --backend=cpu (or --backend=auto)";
    case StatusCode::Unsupported:
      return "this backend cannot run this layer (e.g. DSA/ClusterKV on the cpu backend, or an artifact compiled for "
             "another chip): recompile for this device or pick another --backend";
    case StatusCode::OutOfMemory:
    case StatusCode::OutOfCapacity: return "lower --batch or --context";
    case StatusCode::DeviceError: return "a CUDA call failed: check the GPU (nvidia-smi) or run with --backend=cpu";
    case StatusCode::InvalidArgument: return "check the options (hsa-run --help)";
    default: return "this is a bug in the runtime: please report it with the command line";
  }
}

const char* code_name(StatusCode code) {
  switch (code) {
    case StatusCode::Ok: return "ok";
    case StatusCode::InvalidArgument: return "invalid argument";
    case StatusCode::InvalidArtifact: return "invalid artifact";
    case StatusCode::NotFound: return "not found";
    case StatusCode::OutOfCapacity: return "out of capacity";
    case StatusCode::Unavailable: return "unavailable";
    case StatusCode::Unsupported: return "unsupported";
    case StatusCode::DeviceError: return "device error";
    case StatusCode::OutOfMemory: return "out of memory";
    case StatusCode::Internal: return "internal error";
  }
  return "?";
}

int fail(int exit_code, const std::string& what, const Status& status, const char* what_to_do = nullptr) {
  std::fprintf(stderr, "hsa-run: %s: %s\n  status: %s\n  what to do: %s\n", what.c_str(), status.message().c_str(),
               code_name(status.code()), what_to_do ? what_to_do : advice(status.code()));
  return exit_code;
}

// ---------------------------------------------------------------------------
// Options

struct Options {
  std::string artifact;
  BackendKind backend = BackendKind::Auto;
  uint32_t batch = 0;  // 0: the number of contexts
  std::vector<uint64_t> contexts{8192};
  uint32_t steps = 32;
  uint64_t seed = 1;
  uint32_t query_jump = 0;  // 0: queries only drift
  std::string workload = "drift";  // a preset of workload.h or trace:PATH
  float temperature = 0.0f;        // 0: the preset's
  bool context_given = false;
  bool check = false, graph = false, profile = false, quiet = false, help = false, telemetry = false;
  std::string json;
  std::string sha256;  // the pinned digest, lower case; empty: not pinned
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

// Returns "" or the problem.
std::string parse_options(int argc, char** argv, Options* o) {
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
    // Options with a value take it after '=' or as the next argument ("--steps 2", as hsa-compile's do).
    static const char* const kValued[] = {"--backend", "--batch", "--context", "--steps", "--seed", "--json",
                                          "--query-jump", "--sha256", "--workload", "--temperature"};
    const bool valued = std::find(std::begin(kValued), std::end(kValued), key) != std::end(kValued);
    if (valued && !has_value) {
      if (i + 1 >= argc || std::string(argv[i + 1]).rfind("--", 0) == 0)
        return key + " needs a value (" + key + "=VALUE or " + key + " VALUE)";
      value = argv[++i];
      has_value = true;
    }
    auto flag = [&](bool* target) {
      if (has_value) return key + " takes no value";
      *target = true;
      return std::string();
    };
    auto number = [&](uint64_t max, uint64_t* target) {
      uint64_t v = 0;
      if (!has_value || !parse_u64(value, &v) || v > max) return "bad value for " + key + ": '" + value + "'";
      *target = v;
      return std::string();
    };
    std::string problem;
    uint64_t v = 0;
    if (key == "--help" || key == "-h") problem = flag(&o->help);
    else if (key == "--check") problem = flag(&o->check);
    else if (key == "--graph") problem = flag(&o->graph);
    else if (key == "--profile") problem = flag(&o->profile);
    else if (key == "--telemetry") problem = flag(&o->telemetry);
    else if (key == "--quiet") problem = flag(&o->quiet);
    else if (key == "--sha256") {
      Sha256Digest digest;
      if (!parse_sha256_hex(value.c_str(), &digest)) problem = "--sha256 needs 64 hex digits, not '" + value + "'";
      else o->sha256 = sha256_hex(digest);
    } else if (key == "--json") {
      if (value.empty()) problem = "--json needs a path (--json=PATH or --json PATH)";
      o->json = value;
    } else if (key == "--backend") {
      if (value == "cpu") o->backend = BackendKind::Cpu;
      else if (value == "cuda") o->backend = BackendKind::Cuda;
      else if (value == "auto") o->backend = BackendKind::Auto;
      else problem = "--backend must be cpu, cuda or auto, not '" + value + "'";
    } else if (key == "--batch") {
      problem = number(65536, &v);
      if (problem.empty() && v == 0) problem = "--batch must be >= 1";
      o->batch = uint32_t(v);
    } else if (key == "--steps") {
      problem = number(10000000, &v);
      o->steps = uint32_t(v);
    } else if (key == "--query-jump") {
      problem = number(10000000, &v);
      o->query_jump = uint32_t(v);
    } else if (key == "--seed") {
      problem = number(UINT64_MAX / 1024, &o->seed);
    } else if (key == "--workload") {
      workload::Params params;
      const Status known = value.rfind("trace:", 0) == 0 ? Status::ok() : workload::preset(value, &params);
      if (!known.is_ok()) problem = known.message();
      else if (value == "trace:") problem = "--workload=trace:PATH needs a path";
      o->workload = value;
    } else if (key == "--temperature") {
      char* end = nullptr;
      const double t = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != 0 || !(t > 0.0) || t > 1000.0)
        problem = "bad value for --temperature: '" + value + "' (a number > 0)";
      o->temperature = float(t);
    } else if (key == "--context") {
      o->context_given = true;
      o->contexts.clear();
      size_t start = 0;
      while (problem.empty() && start <= value.size()) {
        const size_t comma = std::min(value.find(',', start), value.size());
        uint64_t tokens = 0;
        if (!parse_u64(value.substr(start, comma - start), &tokens) || tokens == 0 || tokens > (uint64_t(1) << 30))
          problem = "bad --context value '" + value + "' (tokens >= 1, comma separated, K suffix = x1024)";
        o->contexts.push_back(tokens);
        start = comma + 1;
      }
    } else {
      problem = "unknown option " + key;
    }
    if (!problem.empty()) return problem;
  }
  if (o->help) return "";
  if (o->artifact.empty()) return "no artifact given";
  if (o->batch == 0) o->batch = uint32_t(o->contexts.size());
  if (o->contexts.size() == 1) o->contexts.assign(o->batch, o->contexts[0]);
  if (o->contexts.size() != o->batch)
    return format_text("--batch=%u but --context lists %zu values (give one value, or one per request)", o->batch,
                  o->contexts.size());
  if (o->graph && o->backend == BackendKind::Cpu) return "--graph needs the cuda backend";
  return "";
}

// Fraction of dense softmax attention of query head h of `slot` that falls on
// the tokens of the selected units (`units`: [S][K] of the slot's last step).
double attention_mass(const LayerShape& s, const HostCache& cache, uint32_t slot, const uint16_t* q, uint32_t h,
                      const std::vector<int32_t>& units) {
  const uint32_t length = cache.length(slot), kv_head = h / s.group_size, g = kv_head / s.heads_per_unit;
  std::vector<double> qd(s.head_dim), key(s.head_dim), logits(length);
  for (uint32_t d = 0; d < s.head_dim; ++d) qd[d] = kv_to_float(q[size_t(h) * s.head_dim + d], s.act_dtype);
  double max_logit = -INFINITY;
  for (uint32_t t = 0; t < length; ++t) {
    reference::decode_key_row(s, cache.key_bytes(slot, t, kv_head), key.data());  // fp8 rows dequantised
    double dot = 0.0;
    for (uint32_t d = 0; d < s.head_dim; ++d) dot += qd[d] * key[d];
    logits[t] = double(s.scale) * dot;
    max_logit = std::max(max_logit, logits[t]);
  }
  double total = 0.0, selected = 0.0;
  std::vector<char> chosen(length, 0);
  for (uint32_t i = 0; i < s.budget; ++i) {
    const int32_t u = units[size_t(g) * s.budget + i];
    if (u < 0) continue;
    for (uint64_t t = uint64_t(u) * s.page_size; t < std::min<uint64_t>(length, uint64_t(u + 1) * s.page_size); ++t)
      chosen[t] = 1;
  }
  for (uint32_t t = 0; t < length; ++t) {
    const double p = std::exp(logits[t] - max_logit);
    total += p;
    if (chosen[t]) selected += p;
  }
  return total > 0.0 ? selected / total : 0.0;
}

struct StepRecord {
  StepStats stats;
  double decode_ms = 0.0, append_ms = 0.0, device_ms = -1.0, overlap = NAN;
};

int run(Options opt) {
  // A trace has its own prompt length: the default --context.
  if (opt.workload.rfind("trace:", 0) == 0 && !opt.context_given) {
    workload::TraceHeader header;
    const Status read = workload::read_trace_header(opt.workload.substr(6), &header);
    if (!read.is_ok()) return fail(2, "bad --workload", read, "give the path of a trace file (docs/ACCURACY.md)");
    opt.contexts.assign(opt.batch, header.prompt_tokens);
  }
  // The config first: the host pool is sized from the page size.
  // The file is read once: the probe and the runtime load the same bytes.
  std::vector<uint8_t> artifact_bytes;
  Status status = read_artifact_file(opt.artifact, &artifact_bytes);
  if (!status.is_ok())
    return fail(3, "cannot load '" + opt.artifact + "'", status,
                "give the path of an artifact file written by hsa-compile (or hsa-make-test-artifact)");
  const std::string digest = sha256_hex(artifact_bytes.data(), artifact_bytes.size());
  if (!opt.sha256.empty() && digest != opt.sha256)
    return fail(3, "cannot load '" + opt.artifact + "'",
                Status(StatusCode::InvalidArtifact, "its SHA-256 is " + digest + ", --sha256 pins " + opt.sha256),
                "this is not the artifact you pinned: check the path, or pin the digest of the artifact you trust");
  Artifact probe;
  status = load_artifact(artifact_bytes.data(), artifact_bytes.size(), &probe, opt.sha256);
  if (!status.is_ok()) return fail(3, "cannot load '" + opt.artifact + "'", status);
  const artifact::LayerConfigRecord& config = probe.config;
  const uint64_t longest = *std::max_element(opt.contexts.begin(), opt.contexts.end());
  uint64_t pool_pages = 0;
  for (uint64_t context : opt.contexts) pool_pages += (context + opt.steps + config.page_size - 1) / config.page_size;
  if (pool_pages > UINT32_MAX / 2)
    return fail(3, "workload too large", Status(StatusCode::OutOfCapacity, std::to_string(pool_pages) + " host pages"));

  RuntimeOptions options;
  options.backend = opt.backend;
  options.max_batch = opt.batch;
  options.max_context_tokens = longest + opt.steps;
  options.pool_pages = uint32_t(pool_pages);
  options.use_cuda_graph = opt.graph;
  options.profile_kernels = opt.profile;
  options.telemetry = opt.telemetry;
  std::unique_ptr<Runtime> rt;
  status = Runtime::create(options, &rt);
  if (!status.is_ok()) return fail(3, "cannot create the runtime", status);
  status = opt.sha256.empty() ? rt->load_artifact(artifact_bytes.data(), artifact_bytes.size())
                              : rt->load_artifact(artifact_bytes.data(), artifact_bytes.size(), opt.sha256);
  if (!status.is_ok()) return fail(3, "cannot load '" + opt.artifact + "' into the " + rt->backend_name() + " backend", status);
  const LayerShape& s = RuntimeInternals::shape(*rt);
  Backend& backend = RuntimeInternals::backend(*rt);
  const HostCache& cache = RuntimeInternals::cache(*rt);
  const std::string device = backend.device_description();
  if (!opt.quiet)
    std::fprintf(stderr, "hsa-run: %s on %s: %s\n", opt.artifact.c_str(), rt->backend_name(), device.c_str());

  // Requests and prefill.
  std::unique_ptr<workload::Workload> workload;
  {
    workload::Dims dims;
    dims.q_heads = s.q_heads, dims.kv_heads = s.kv_heads, dims.head_dim = s.head_dim, dims.value_dim = s.value_dim;
    dims.dtype = s.act_dtype;  // bf16 rows for an fp8 latent cache, quantised before they go in
    workload::Overrides overrides;
    overrides.temperature = opt.temperature;
    status = workload::make_workload(opt.workload, dims, opt.seed, opt.contexts, opt.steps, overrides, &workload);
    if (!status.is_ok()) return fail(2, "bad --workload", status, "see hsa-run --help for the workloads");
  }
  std::vector<RequestId> ids(opt.batch);
  for (RequestId& id : ids) {
    status = rt->create_request(&id);
    if (!status.is_ok()) return fail(3, "cannot create a request", status);
  }
  uint64_t total_prompt = 0;
  for (uint64_t c : opt.contexts) total_prompt += c;
  const auto prefill_start = Clock::now();
  uint64_t done = 0, next_report = total_prompt / 10;
  const uint64_t chunk = 8192;
  std::vector<uint8_t> stored_k;  // fp8 latent rows of k (Fp8Latent layers)
  std::mt19937_64 input_rng(opt.seed ^ 0x5eed1dea);  // the step inputs' own stream: the K/V/q workload is unchanged
  StepInputFeed feed;
  // The prompts' K/V (the CPU's share of a big run: ~10 us a token) come from
  // worker threads, a window of requests ahead, where the workload allows it;
  // each request's chunks are generated in order from its own streams, so the
  // data is what one thread makes. The step-input feed and the prefill calls
  // stay on this thread, in request order. Otherwise chunks are made here, one
  // at a time.
  struct PromptChunk {
    std::vector<uint16_t> k, v;
  };
  auto generate = [&](uint32_t b) {
    std::vector<PromptChunk> chunks;
    for (uint64_t first = 0; first < opt.contexts[b]; first += chunk) {
      chunks.emplace_back();
      workload->prompt(b, first, std::min(chunk, opt.contexts[b] - first), &chunks.back().k, &chunks.back().v);
    }
    return chunks;
  };
  const uint64_t request_bytes = 2 * longest * uint64_t(s.kv_heads) * (s.head_dim + s.value_dim) + 1;
  const uint64_t window_cap = std::max<uint64_t>(1, (uint64_t(4) << 30) / request_bytes);  // <= 4 GiB ahead
  const uint32_t window =
      workload->concurrent_prompts() && opt.batch > 1
          ? uint32_t(std::min<uint64_t>({std::max(1u, std::thread::hardware_concurrency()), opt.batch, window_cap}))
          : 0;
  std::deque<std::future<std::vector<PromptChunk>>> ahead;
  uint32_t launched = 0;
  auto refill = [&] {
    while (ahead.size() < window && launched < opt.batch)
      ahead.push_back(std::async(std::launch::async, generate, launched++));
  };
  uint64_t first = 0;  // of the chunk being fed, within request b
  auto feed_chunk = [&](uint32_t b, PromptChunk& c) {
    const uint64_t count = std::min(chunk, opt.contexts[b] - first);
    feed.fill(s, StepKind::Append, count, input_rng, c.k.data());
    const Status prefilled = rt->prefill(ids[b], stored_key_rows(s, c.k.data(), count, &stored_k), c.v.data(),
                                         count, feed.inputs(), feed.count());
    first += count;
    done += count;
    if (!opt.quiet && total_prompt >= 65536 && done >= next_report) {
      std::fprintf(stderr, "  prefill %3.0f%% (%" PRIu64 " of %" PRIu64 " tokens, %.1f s)\n",
                   100.0 * double(done) / double(total_prompt), done, total_prompt,
                   std::chrono::duration<double>(Clock::now() - prefill_start).count());
      next_report = done + total_prompt / 10;
    }
    return prefilled;
  };
  for (uint32_t b = 0; b < opt.batch; ++b) {
    first = 0;
    if (window) {  // the whole request from a worker, released chunk by chunk
      refill();
      std::vector<PromptChunk> chunks = ahead.front().get();
      ahead.pop_front();
      refill();
      for (PromptChunk& c : chunks) {
        status = feed_chunk(b, c);
        if (!status.is_ok()) return fail(3, format_text("prefill of request %u failed", b), status);
        c = PromptChunk{};
      }
    } else {  // here, one chunk at a time
      PromptChunk c;
      while (first < opt.contexts[b]) {
        workload->prompt(b, first, std::min(chunk, opt.contexts[b] - first), &c.k, &c.v);
        status = feed_chunk(b, c);
        if (!status.is_ok()) return fail(3, format_text("prefill of request %u failed", b), status);
      }
    }
  }
  const double prefill_seconds = std::chrono::duration<double>(Clock::now() - prefill_start).count();
  // The representations of the whole prompt, built once per request (the
  // chunks above only filled the host pool): ClusterKV's k-means, Quest's
  // bounds. Timed apart from the copies.
  const auto build_start = Clock::now();
  for (uint32_t b = 0; b < opt.batch; ++b) {
    status = rt->finish_prefill(ids[b]);
    if (!status.is_ok()) return fail(3, format_text("building the representations of request %u failed", b), status);
  }
  const double build_seconds = std::chrono::duration<double>(Clock::now() - build_start).count();

  // Decode steps.
  const size_t row_k = size_t(s.kv_heads) * s.head_dim, row_v = size_t(s.kv_heads) * s.value_dim;
  const size_t row_q = size_t(s.q_heads) * s.head_dim, row_o = size_t(s.q_heads) * s.value_dim;
  const size_t selection = size_t(s.groups) * s.budget;
  std::vector<uint16_t> new_k(opt.batch * row_k), new_v(opt.batch * row_v), q(opt.batch * row_q), o(opt.batch * row_o);
  std::vector<std::vector<int32_t>> units(opt.batch, std::vector<int32_t>(selection)), previous = units;
  std::vector<StepRecord> records;
  Stats mass, bound_max, bound_slack;  // telemetry: per-step max bound; bound - true missed mass
  uint64_t bound_violations = 0;
  std::vector<uint32_t> mass_heads;
  for (uint32_t h : {0u, s.q_heads / 4 + 1, s.q_heads / 2 + 2, 3 * s.q_heads / 4 + 3})
    if (h < s.q_heads && std::find(mass_heads.begin(), mass_heads.end(), h) == mass_heads.end()) mass_heads.push_back(h);
  const uint32_t mass_every = std::max<uint32_t>(1, opt.steps / 4);
  struct KernelTime {
    std::string name;
    double sum_ms = 0.0;
    uint64_t steps = 0;
  };
  std::vector<KernelTime> kernel_ms;  // in launch order of the first step
  StageCheckReport check;
  std::unique_ptr<StepCapture> check_workspace;
  uint32_t checked = 0;
  uint32_t slot0 = 0;
  (void)RuntimeInternals::slot_of(*rt, ids[0], &slot0);
  const auto decode_start = Clock::now();
  for (uint32_t step = 0; step < opt.steps; ++step) {
    StepRecord rec;
    for (uint32_t b = 0; b < opt.batch; ++b) workload->next_token(b, &new_k[b * row_k], &new_v[b * row_v]);
    auto start = Clock::now();
    feed.fill(s, StepKind::Append, opt.batch, input_rng, new_k.data());
    status = rt->append(ids.data(), opt.batch, stored_key_rows(s, new_k.data(), opt.batch, &stored_k),
                        s.has_separate_v ? new_v.data() : nullptr, feed.inputs(), feed.count());
    if (!status.is_ok()) return fail(4, format_text("append at step %u failed", step), status);
    rec.append_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    const bool jump = opt.query_jump > 0 && step > 0 && step % opt.query_jump == 0;
    for (uint32_t b = 0; b < opt.batch; ++b) {
      if (jump) workload->jump_query(b);
      workload->next_query(b, &q[b * row_q]);
    }
    feed.fill(s, StepKind::Decode, opt.batch, input_rng, q.data());
    if (opt.check) {
      StageCheckOptions check_options;
      check_options.step = step;
      check_options.workspace = &check_workspace;
      StageCheckReport report;
      status = checked_decode_step(*rt, ids.data(), opt.batch, q.data(), o.data(), &rec.stats, check_options, &report,
                                   feed.inputs(), feed.count());
      if (!status.is_ok()) return fail(4, format_text("checked decode step %u failed", step), status);
      rec.decode_ms = report.decode_wall_ms;
      check.merge(report);
      ++checked;
      if (!report.passed) {
        std::fprintf(stderr, "hsa-run: check FAILED: %s\n  stages: %s\n", report.message.c_str(),
                     report.summary().c_str());
        std::printf("check: FAILED at step %u: %s\n", step, report.message.c_str());
        return 1;
      }
    } else {
      start = Clock::now();
      status = rt->decode_step(ids.data(), opt.batch, q.data(), o.data(), &rec.stats, feed.inputs(), feed.count());
      if (!status.is_ok()) return fail(4, format_text("decode step %u failed", step), status);
      rec.decode_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    }
    rec.device_ms = backend.last_step_device_ms();
    const KernelTiming* timings = nullptr;
    size_t timing_count = 0;
    if (opt.profile && rt->last_step_kernel_timings(&timings, &timing_count).is_ok())
      for (size_t i = 0; i < timing_count; ++i) {
        auto it = std::find_if(kernel_ms.begin(), kernel_ms.end(),
                               [&](const KernelTime& k) { return k.name == timings[i].kernel; });
        if (it == kernel_ms.end()) it = kernel_ms.insert(kernel_ms.end(), KernelTime{timings[i].kernel});
        it->sum_ms += timings[i].milliseconds;
        it->steps += 1;  // a kernel launched twice in a step counts twice: the mean is per launch
      }
    double overlap_sum = 0.0;
    uint64_t overlap_count = 0;
    for (uint32_t b = 0; b < opt.batch; ++b) {
      status = rt->selected_units(ids[b], units[b].data(), selection);
      if (!status.is_ok()) return fail(4, "selected_units failed", status);
      if (step > 0) overlap(s, units[b], previous[b], &overlap_sum, &overlap_count);
    }
    if (overlap_count) rec.overlap = overlap_sum / double(overlap_count);
    RequestTelemetry t0;
    if (opt.telemetry)
      for (uint32_t b = 0; b < opt.batch; ++b) {
        RequestTelemetry t;
        status = rt->request_telemetry(ids[b], &t);
        if (!status.is_ok()) return fail(4, "request_telemetry failed", status);
        if (!t.has_bound && step == 0 && b == 0)
          std::fprintf(stderr, "hsa-run: --telemetry: algorithm '%s' bounds no logit it does not select, so "
                               "nothing bounds the mass it misses (Quest's does): reporting the selected tokens' "
                               "LSE only\n", s.algorithm->name());
        if (t.has_bound) bound_max.add(t.max_missed_mass_bound);
        if (b == 0) t0 = t;
      }
    if (step % mass_every == 0 || step + 1 == opt.steps)
      for (uint32_t h : mass_heads) {
        const double captured = attention_mass(s, cache, slot0, &q[0], h, units[0]);
        mass.add(captured);
        if (t0.has_bound) {  // the online bound against the true missed mass
          const double slack = double(t0.missed_mass_bound[h]) - (1.0 - captured);
          bound_slack.add(slack);
          bound_violations += slack < -1e-6;
        }
      }
    previous = units;
    records.push_back(rec);
    if (!opt.quiet && opt.steps >= 10 && ((step + 1) % ((opt.steps + 9) / 10) == 0 || step + 1 == opt.steps))
      std::fprintf(stderr, "  step %u/%u: hit rate %.1f%%, decode %.2f ms%s\n", step + 1, opt.steps,
                   100.0 * rec.stats.hit_rate, rec.decode_ms, opt.check ? " (checked)" : "");
  }
  const double decode_seconds = std::chrono::duration<double>(Clock::now() - decode_start).count();

  // Totals.
  uint64_t selected = 0, hits = 0, misses = 0, bytes = 0, selected_warm = 0, hits_warm = 0, bytes_warm = 0;
  Stats decode_ms, append_ms, device_ms, overlaps;
  for (size_t t = 0; t < records.size(); ++t) {
    const StepStats& st = records[t].stats;
    selected += st.units_selected;
    hits += st.hits;
    misses += st.misses;
    bytes += st.bytes_copied_h2d;
    if (t > 0) {
      selected_warm += st.units_selected;
      hits_warm += st.hits;
      bytes_warm += st.bytes_copied_h2d;
    }
    decode_ms.add(records[t].decode_ms);
    append_ms.add(records[t].append_ms);
    if (records[t].device_ms >= 0) device_ms.add(records[t].device_ms);
    if (std::isfinite(records[t].overlap)) overlaps.add(records[t].overlap);
  }
  const double steps = std::max<double>(1.0, double(records.size()));
  const double hit_rate = selected ? double(hits) / double(selected) : NAN;
  const double hit_rate_warm = selected_warm ? double(hits_warm) / double(selected_warm) : NAN;
  const double bytes_per_step = double(bytes) / steps;
  const double bytes_per_step_warm = records.size() > 1 ? double(bytes_warm) / double(records.size() - 1) : NAN;
  const double bytes_without = double(selected) * double(s.unit_bytes()) / steps;
  std::vector<RequestAccounting> accounting(opt.batch);
  for (uint32_t b = 0; b < opt.batch; ++b) {
    status = rt->request_accounting(ids[b], &accounting[b]);
    if (!status.is_ok()) return fail(4, "request_accounting failed", status);
  }
  double full_mean = 0.0;
  for (const RequestAccounting& a : accounting) full_mean += double(a.full_device_cache_bytes) / opt.batch;

  // The summary.
  std::string contexts;
  for (size_t i = 0; i < opt.contexts.size(); ++i) contexts += (i ? "," : "") + std::to_string(opt.contexts[i]);
  const bool same_lengths = std::all_of(opt.contexts.begin(), opt.contexts.end(),
                                        [&](uint64_t c) { return c == opt.contexts[0]; });
  if (same_lengths) contexts = std::to_string(opt.contexts[0]) + (opt.batch > 1 ? " tokens each" : " tokens");
  else contexts += " tokens";
  std::printf("hsa-run: %s\n", opt.artifact.c_str());
  std::printf("  artifact     %zu bytes, sha256 %s%s\n", artifact_bytes.size(), digest.c_str(),
              opt.sha256.empty() ? " (not pinned: --sha256 pins it)" : " (pinned)");
  std::printf("  backend      %s: %s%s%s\n", rt->backend_name(), device.c_str(), opt.graph ? ", CUDA graph" : "",
              opt.profile ? ", profiled" : "");
  std::printf("  layer        Hq %u, Hkv %u, D %u/%u, %s, P %u, %s", s.q_heads, s.kv_heads, s.head_dim, s.value_dim,
              kv_dtype_name(s.dtype), s.page_size, s.algorithm->name());
  if (!s.params.items.empty()) std::printf(" (%s)", s.params.describe().c_str());
  std::printf(", scope %s (S %u), K %u, C %u, sinks %u, window %u units\n",
              s.groups == 1 ? "request" : "kv_head", s.groups, s.budget, s.capacity, s.sinks, s.window);
  std::printf("  workload     %s: B %u, prompts of %s, %u decode step%s, seed %" PRIu64
              "; prefill %.2f s, representations %.1f ms\n",
              workload->describe().c_str(), opt.batch, contexts.c_str(), opt.steps, opt.steps == 1 ? "" : "s",
              opt.seed, prefill_seconds, 1e3 * build_seconds);
  if (records.empty()) {
    std::printf("  decode       no decode steps (--steps=0): nothing selected, copied or timed\n");
  } else {
    std::printf("  hit rate     %s after the first step (%s with the cold first step)\n",
                percent_text(hit_rate_warm).c_str(), percent_text(hit_rate).c_str());
    // The LRU buffer's saving: after the first step nothing may miss at all.
    const std::string saving = !std::isfinite(bytes_per_step_warm) ? "no steps after the first"
                               : bytes_per_step_warm > 0
                                   ? format_text("%.1fx less", bytes_without / bytes_per_step_warm)
                                   : std::string("nothing copied after the first step");
    std::printf("  h2d / step   %s with the LRU buffer (%s incl. the cold first step) vs %s copying every selected "
                "unit (%s)\n",
                bytes_text(bytes_per_step_warm).c_str(), bytes_text(bytes_per_step).c_str(),
                bytes_text(bytes_without).c_str(), saving.c_str());
  }
  // Device bytes are the same for every request (buffers are sized for the
  // max context); the full cache and the host bytes follow each length.
  for (uint32_t b = 0; b < (same_lengths ? 1u : opt.batch); ++b) {
    const RequestAccounting& a = accounting[b];
    const double ratio = double(a.full_device_cache_bytes) / double(std::max<uint64_t>(1, a.device_bytes));
    std::printf("  device mem   %s%s vs %s for a full device-resident cache at %" PRIu64 " tokens (%.1fx %s); "
                "host %s\n",
                same_lengths ? "" : format_text("request %u: ", b).c_str(), bytes_text(double(a.device_bytes)).c_str(),
                bytes_text(double(a.full_device_cache_bytes)).c_str(), a.length_tokens, ratio >= 1 ? ratio : 1 / ratio,
                ratio >= 1 ? "less" : "more", bytes_text(double(a.host_bytes)).c_str());
  }
  if (!records.empty()) {
    // Misses fill free slots first; every miss beyond the B x S x C slots
    // replaced a resident unit (a lower bound: groups miss unevenly).
    const uint64_t slots = uint64_t(opt.batch) * s.groups * s.capacity;
    std::printf("  evictions    >= %" PRIu64 " (misses beyond the %" PRIu64 " slots of the buffers%s)\n",
                misses > slots ? misses - slots : 0, slots,
                opt.query_jump ? format_text(", queries jump every %u steps", opt.query_jump).c_str() : "");
    std::printf("  top-k overlap %s (|S_t & S_t-1| / |S_t|, mean over requests, groups and steps)\n",
                number_text(overlaps.mean(), "%.3f").c_str());
    std::printf("  attn mass    %s of dense softmax attention on the selected tokens (request 0, %zu heads x %zu "
                "steps; min %s)\n",
                number_text(mass.mean(), "%.3f").c_str(), mass_heads.size(),
                mass.values.size() / std::max<size_t>(1, mass_heads.size()), number_text(mass.min(), "%.3f").c_str());
  }
  if (opt.telemetry && !bound_max.values.empty())
    std::printf("  telemetry    missed-mass bound: mean %.3f, max %.3f (per request and step, the max over heads);"
                " request 0: bound >= true missed mass on %zu of %zu samples (mean slack %.3f)\n",
                bound_max.mean(), bound_max.max(), bound_slack.values.size() - size_t(bound_violations),
                bound_slack.values.size(), bound_slack.mean());
  if (!records.empty()) {
    std::printf("  step time    decode %.2f ms (wall, mean; median %.2f, max %.2f), append %.2f ms", decode_ms.mean(),
                decode_ms.median(), decode_ms.max(), append_ms.mean());
    if (!device_ms.values.empty()) std::printf(", device %.3f ms (CUDA events)", device_ms.mean());
    std::printf("; %.2f s for %u step%s%s\n", decode_seconds, opt.steps, opt.steps == 1 ? "" : "s",
                opt.check ? " incl. checks" : "");
  }
  if (opt.profile) {
    if (kernel_ms.empty()) {
      std::printf("  kernels      not timed (%s)\n", opt.graph ? "launches inside a CUDA graph are not timed"
                                                              : "the backend reported no timings");
    } else {
      std::string line;
      for (const KernelTime& k : kernel_ms)
        line += format_text("%s%s %.3f ms", line.empty() ? "" : ", ", k.name.c_str(), k.sum_ms / double(k.steps));
      std::printf("  kernels      %s (mean per launch)\n", line.c_str());
    }
  }
  if (opt.check)
    std::printf("check: %u steps, all stages match (max errors: score %.2g relative, attend %.2g relative L2, %.2g "
                "absolute; telemetry %.2g over %llu values: LSE relative, bound absolute)\n",
                checked, check.stage(CheckStage::Score).worst_error, check.stage(CheckStage::Attend).worst_error,
                check.attend_max_abs_error, check.stage(CheckStage::Telemetry).worst_error,
                static_cast<unsigned long long>(check.stage(CheckStage::Telemetry).compared));

  if (!opt.json.empty()) {
    Json j;
    j.begin();
    j.str("tool", "hsa-run").str("artifact", opt.artifact).str("artifact_sha256", digest);
    j.boolean("artifact_pinned", !opt.sha256.empty());
    j.str("backend", rt->backend_name()).str("device", device);
    j.begin("config");
    j.integer("q_heads", s.q_heads).integer("kv_heads", s.kv_heads).integer("head_dim", s.head_dim);
    j.integer("value_dim", s.value_dim).integer("page_size", s.page_size);
    j.str("kv_dtype", kv_dtype_name(s.dtype)).str("algorithm", s.algorithm->name());
    j.begin("algorithm_params");
    for (const AlgorithmParam& p : s.params.items) {
      if (p.kind == artifact::ParamKind::String) j.str(p.name.c_str(), p.text);
      else j.integer(p.name.c_str(), p.integer);
    }
    j.end();
    j.str("scope", s.groups == 1 ? "request" : "kv_head");
    j.integer("groups", s.groups).integer("budget_units", s.budget).integer("capacity_units", s.capacity);
    j.integer("sink_units", s.sinks).integer("window_units", s.window).num("softmax_scale", s.scale);
    j.integer("unit_bytes", s.unit_bytes());
    j.end();
    j.begin("workload");
    j.str("preset", workload->describe()).integer("batch", opt.batch).begin("contexts", '[');
    for (uint64_t c : opt.contexts) j.integer(nullptr, c);
    j.end(']');
    j.integer("steps", opt.steps).integer("seed", opt.seed).integer("query_jump", opt.query_jump).integer("max_context_tokens", options.max_context_tokens);
    j.integer("pool_pages", options.pool_pages).boolean("graph", opt.graph).boolean("profile", opt.profile);
    j.end();
    j.begin("prefill").integer("tokens", total_prompt).num("seconds", prefill_seconds)
        .num("representations_seconds", build_seconds).end();
    j.begin("totals").integer("units_selected", selected).integer("hits", hits).integer("misses", misses)
        .integer("evictions_at_least", misses > uint64_t(opt.batch) * s.groups * s.capacity ? misses - uint64_t(opt.batch) * s.groups * s.capacity : 0);
    j.integer("bytes_h2d", bytes).end();
    j.num("hit_rate", hit_rate).num("hit_rate_after_first_step", hit_rate_warm);
    j.num("bytes_h2d_per_step", bytes_per_step).num("bytes_h2d_per_step_after_first_step", bytes_per_step_warm);
    j.num("bytes_h2d_per_step_without_buffer", bytes_without);
    j.integer("device_bytes_per_request", accounting[0].device_bytes);
    j.num("full_device_cache_bytes_per_request", full_mean);
    j.begin("requests", '[');
    for (uint32_t b = 0; b < opt.batch; ++b) {
      j.begin().integer("id", ids[b]).integer("length_tokens", accounting[b].length_tokens);
      j.integer("device_bytes", accounting[b].device_bytes);
      j.integer("full_device_cache_bytes", accounting[b].full_device_cache_bytes);
      j.integer("host_bytes", accounting[b].host_bytes).end();
    }
    j.end(']');
    j.num("topk_overlap", overlaps.mean());
    if (opt.telemetry && !bound_max.values.empty()) {
      j.begin("telemetry").num("missed_mass_bound_mean", bound_max.mean()).num("missed_mass_bound_max", bound_max.max());
      j.integer("samples_checked", bound_slack.values.size()).integer("bound_violations", bound_violations);
      j.num("mean_slack", bound_slack.mean()).end();
    }
    j.begin("attention_mass").num("mean", mass.mean()).num("min", mass.min());
    j.integer("samples", mass.values.size()).integer("request", 0).end();
    j.begin("step_time_ms").num("decode_wall_mean", decode_ms.mean()).num("decode_wall_median", decode_ms.median());
    j.num("decode_wall_min", decode_ms.min()).num("decode_wall_max", decode_ms.max());
    j.num("append_wall_mean", append_ms.mean()).num("append_wall_median", append_ms.median());
    j.num("append_wall_max", append_ms.max()).num("device_mean", device_ms.mean()).end();
    if (kernel_ms.empty()) {
      j.null("kernel_time_ms");
    } else {
      j.begin("kernel_time_ms");
      for (const KernelTime& k : kernel_ms) j.num(k.name.c_str(), k.sum_ms / double(k.steps));
      j.end();
    }
    j.begin("check").boolean("enabled", opt.check).integer("steps", checked).boolean("passed", opt.check && check.passed);
    j.num("max_score_relative_error", check.stage(CheckStage::Score).worst_error);
    j.num("max_attend_relative_l2_error", check.stage(CheckStage::Attend).worst_error);
    j.num("max_attend_abs_error", check.attend_max_abs_error);
    j.num("score_tolerance", check.score_tolerance).num("attend_tolerance", kAttendTolerance);
    j.begin("stages");
    for (int i = 0; i < kCheckStageCount; ++i) {
      const StageOutcome& o = check.stages[i];
      j.begin(check_stage_name(CheckStage(i))).boolean("passed", opt.check && o.passed).integer("compared", o.compared);
      j.integer("mismatches", o.mismatches).num("worst_error", o.worst_error).end();
    }
    j.end().end();
    j.begin("per_step", '[');
    for (size_t t = 0; t < records.size(); ++t) {
      const StepRecord& r = records[t];
      j.begin().integer("step", t).integer("units_selected", r.stats.units_selected).integer("hits", r.stats.hits);
      j.integer("misses", r.stats.misses).integer("bytes_h2d", r.stats.bytes_copied_h2d);
      j.num("decode_ms", r.decode_ms).num("append_ms", r.append_ms).num("device_ms", r.device_ms >= 0 ? r.device_ms : NAN);
      j.num("topk_overlap", r.overlap).end();
    }
    j.end(']');
    j.end();
    if (!write_text_file("hsa-run", opt.json, j.text())) return 4;
  }
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
    std::fprintf(stderr, "hsa-run: %s (see hsa-run --help)\n", problem.c_str());
    return 2;
  }
  if (!options.json.empty()) {
    const std::string why = check_writable(options.json);
    if (!why.empty()) {
      std::fprintf(stderr, "hsa-run: cannot write --json file '%s': %s (nothing was run)\n", options.json.c_str(),
                   why.c_str());
      return 2;
    }
  }
  try {
    return run(options);
  } catch (const std::bad_alloc&) {
    return fail(3, "out of host memory", Status(StatusCode::OutOfMemory, "allocation failed"));
  }
}
