// Online telemetry (RuntimeOptions::telemetry) on the CPU reference and, at
// the end, the CUDA backend's reading of the kernels' outputs: per
// request, step and query head, the log softmax denominator over the selected
// tokens and Quest's upper bound of the attention mass the selection missed.
// Property: over random layers (every combine, both scopes, page sizes 1, 4,
// 16), random and outlier-heavy keys, rows longer than the budget and steps
// with appends, the bound is never below the true missed mass (computed here
// from the host pool with dense attention over every token), the LSE is the
// selected tokens' own, and a selection of every unit misses nothing.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "half.h"
#include "runtime_internal.h"
#include "telemetry.h"
#include "test_artifact.h"
#include "test_support.h"
#if HSA_RUNTIME_HAS_CUDA
#include "cuda_backend.h"
#include "fake_cuda_driver.h"
#endif

namespace hsa {
namespace {

using test::ConfigSpec;

struct Truth {
  double selected_lse, missed_mass;
};

// Dense attention of slot b's query head h over all of its tokens, split into
// the selected units' tokens and the rest.
Truth true_split(const Runtime& rt, uint32_t slot, const std::vector<int32_t>& units, const uint16_t* q, uint32_t h) {
  const LayerShape& s = RuntimeInternals::shape(rt);
  const HostCache& cache = RuntimeInternals::cache(rt);
  const uint32_t kv_head = h / s.group_size, g = s.groups == 1 ? 0 : kv_head / s.heads_per_unit;
  std::vector<char> selected(s.max_units, 0);
  for (uint32_t i = 0; i < s.budget; ++i) {
    const int32_t u = units[size_t(g) * s.budget + i];
    if (u >= 0) selected[u] = 1;
  }
  std::vector<double> logits(cache.length(slot));
  double m = -INFINITY;
  for (uint32_t t = 0; t < cache.length(slot); ++t) {
    const uint16_t* k = cache.key(slot, t, kv_head);
    double dot = 0;
    for (uint32_t d = 0; d < s.head_dim; ++d) dot += double(kv_to_float(q[d], s.dtype)) * kv_to_float(k[d], s.dtype);
    logits[t] = double(s.scale) * dot;
    m = std::max(m, logits[t]);
  }
  double z_sel = 0, z_all = 0;
  for (uint32_t t = 0; t < logits.size(); ++t) {
    const double p = std::exp(logits[t] - m);
    z_all += p;
    if (selected[t / s.page_size]) z_sel += p;
  }
  return Truth{z_sel > 0 ? m + std::log(z_sel) : -INFINITY, 1.0 - z_sel / z_all};
}

struct Case {
  ConfigSpec spec;
  std::vector<uint32_t> lengths;
  float outlier_scale;  // keys of some tokens scaled up: concentrated attention
  bool tight = false;   // every token of a page has the page's first key: Quest's bound is exact
  bool group_bound = false;  // the artifact carries the top-k's group bound (Quest max)
};

std::vector<Case> cases() {
  std::vector<Case> out;
  for (const char* combine : {"max", "sum", "mean_query"})
    for (SelectionScope scope : {SelectionScope::KvHead, SelectionScope::Request})
      for (uint32_t page : {1u, 4u, 16u}) {
        Case c;
        c.spec.combine = combine;
        c.spec.scope = scope;
        c.spec.page_size = page;
        c.spec.budget = page == 1 ? 12 : 4;
        c.spec.capacity = 2 * c.spec.budget;
        c.lengths = {page * 40 + 3, page * 3, 1};  // longer than the budget, short, one token
        c.outlier_scale = page == 4 ? 6.0f : 1.0f;  // tight pages make the bound exact: a looser formula fails
        out.push_back(c);
        if (page > 1) {
          c.tight = true;
          out.push_back(c);
        }
      }
  // Quest max again with the group bound (the tighter of the two is reported:
  // here only the group one, as compiled artifacts without --telemetry).
  const size_t plain = out.size();
  for (size_t i = 0; i < plain; ++i)
    if (out[i].spec.combine == "max") {
      Case c = out[i];
      c.group_bound = true;
      out.push_back(c);
    }
  return out;
}

// A CPU runtime with telemetry over the test artifact of `spec`.
std::unique_ptr<Runtime> cpu_runtime(const ConfigSpec& spec, uint32_t batch, bool group_bound) {
  RuntimeOptions options;
  options.backend = BackendKind::Cpu;
  options.max_batch = batch;
  options.max_context_tokens = 1024;
  options.telemetry = true;
  std::unique_ptr<Runtime> rt;
  if (!Runtime::create(options, &rt).is_ok()) return nullptr;
  const std::vector<uint8_t> bytes =
      test::build_artifact(test::make_config(spec), "sm_90a", spec.test_algorithm(),
                           group_bound ? std::optional(artifact::Symbol::Groups) : std::nullopt);
  const Status loaded = rt->load_artifact(bytes.data(), bytes.size());
  EXPECT_TRUE(loaded.is_ok()) << loaded.message();
  return loaded.is_ok() ? std::move(rt) : nullptr;
}

TEST(Telemetry, BoundIsNeverBelowTheTrueMissedMass) {
  uint64_t checked = 0, nontrivial = 0;
  for (const Case& c : cases()) {
    SCOPED_TRACE("combine " + c.spec.combine + ", P " + std::to_string(c.spec.page_size) + ", scope " +
                 (c.spec.scope == SelectionScope::Request ? "request" : "kv_head") +
                 (c.group_bound ? ", group bound" : ""));
    std::unique_ptr<Runtime> rt = cpu_runtime(c.spec, uint32_t(c.lengths.size()), c.group_bound);
    ASSERT_TRUE(rt);
    const LayerShape& s = RuntimeInternals::shape(*rt);
    ASSERT_EQ(s.group_bound, c.group_bound);
    std::mt19937 rng(uint32_t(checked + 17));
    std::vector<RequestId> ids;
    for (uint32_t length : c.lengths) {
      RequestId id = 0;
      ASSERT_TRUE(rt->create_request(&id).is_ok());
      std::vector<uint16_t> k = test::random_kv(rng, size_t(length) * s.kv_heads * s.head_dim, s.dtype);
      for (size_t t = 0; t < length; t += 7)  // every 7th token louder
        for (size_t i = 0; i < size_t(s.kv_heads) * s.head_dim; ++i) {
          uint16_t& x = k[t * s.kv_heads * s.head_dim + i];
          x = float_to_kv(kv_to_float(x, s.dtype) * c.outlier_scale, s.dtype);
        }
      const size_t row = size_t(s.kv_heads) * s.head_dim;
      if (c.tight)
        for (size_t t = 0; t < length; ++t)
          std::copy_n(&k[(t - t % s.page_size) * row], row, &k[t * row]);
      const std::vector<uint16_t> v = test::random_kv(rng, size_t(length) * s.kv_heads * s.value_dim, s.dtype);
      ASSERT_TRUE(rt->prefill(id, k.data(), v.data(), length).is_ok());
      ids.push_back(id);
    }
    const size_t row_q = size_t(s.q_heads) * s.head_dim;
    for (int step = 0; step < 4; ++step) {
      if (step > 0) {  // an append per request between steps
        const std::vector<uint16_t> nk = test::random_kv(rng, ids.size() * s.kv_heads * s.head_dim, s.dtype);
        const std::vector<uint16_t> nv = test::random_kv(rng, ids.size() * s.kv_heads * s.value_dim, s.dtype);
        ASSERT_TRUE(rt->append(ids.data(), ids.size(), nk.data(), nv.data()).is_ok());
      }
      const std::vector<uint16_t> q = test::random_kv(rng, ids.size() * row_q, s.dtype, 2.0f);
      std::vector<uint16_t> o(ids.size() * size_t(s.q_heads) * s.value_dim);
      ASSERT_TRUE(rt->decode_step(ids.data(), ids.size(), q.data(), o.data(), nullptr).is_ok());
      for (size_t r = 0; r < ids.size(); ++r) {
        uint32_t slot = 0;
        ASSERT_TRUE(RuntimeInternals::slot_of(*rt, ids[r], &slot).is_ok());
        std::vector<int32_t> units(size_t(s.groups) * s.budget);
        ASSERT_TRUE(rt->selected_units(ids[r], units.data(), units.size()).is_ok());
        RequestTelemetry t;
        ASSERT_TRUE(rt->request_telemetry(ids[r], &t).is_ok());
        ASSERT_TRUE(t.has_bound);
        ASSERT_EQ(t.selected_lse.size(), s.q_heads);
        ASSERT_EQ(t.missed_mass_bound.size(), s.q_heads);
        EXPECT_EQ(t.step, uint64_t(step + 1));
        for (uint32_t h = 0; h < s.q_heads; ++h) {
          const Truth truth = true_split(*rt, slot, units, &q[r * row_q + size_t(h) * s.head_dim], h);
          EXPECT_NEAR(t.selected_lse[h], truth.selected_lse, 1e-5 * std::max(1.0, std::fabs(truth.selected_lse)))
              << "request " << r << " head " << h;
          EXPECT_GE(double(t.missed_mass_bound[h]), truth.missed_mass - 1e-12) << "request " << r << " head " << h;
          EXPECT_LE(t.missed_mass_bound[h], 1.0f);
          EXPECT_LE(t.missed_mass_bound[h], t.max_missed_mass_bound);
          ++checked;
          nontrivial += truth.missed_mass > 1e-3;
        }
      }
    }
  }
  EXPECT_EQ(checked, 1920u);  // (30 + 10 group-bound) layers x 3 requests x 4 steps x 4 heads
  EXPECT_GT(nontrivial, checked / 4) << "the cases must miss mass for the bound to mean anything";
}

// On identical inputs the group bound (each head gets its group's max score,
// rounded up to its bin's top) is never tighter than the per-head one, and
// the group row holds exactly the reference's log U_g.
TEST(Telemetry, GroupBoundIsTheLooserOfTheTwo) {
  for (uint32_t q_heads : {2u, 8u}) {  // group size 1 and 4 (2 KV heads)
    ConfigSpec spec;
    spec.q_heads = q_heads;
    spec.page_size = 4;
    spec.budget = 4, spec.capacity = 8;
    std::unique_ptr<Runtime> head = cpu_runtime(spec, 1, false), group = cpu_runtime(spec, 1, true);
    ASSERT_TRUE(head && group);
    const LayerShape& s = RuntimeInternals::shape(*group);
    std::mt19937 rng(5);
    const uint32_t length = 150;
    const std::vector<uint16_t> k = test::random_kv(rng, size_t(length) * s.kv_heads * s.head_dim, s.dtype);
    const std::vector<uint16_t> v = test::random_kv(rng, size_t(length) * s.kv_heads * s.value_dim, s.dtype);
    RequestId a = 0, b = 0;
    ASSERT_TRUE(head->create_request(&a).is_ok() && group->create_request(&b).is_ok());
    ASSERT_TRUE(head->prefill(a, k.data(), v.data(), length).is_ok() && group->prefill(b, k.data(), v.data(), length).is_ok());
    for (int step = 0; step < 6; ++step) {
      const std::vector<uint16_t> q = test::random_kv(rng, size_t(s.q_heads) * s.head_dim, s.dtype, 2.0f);
      std::vector<uint16_t> o(size_t(s.q_heads) * s.value_dim);
      ASSERT_TRUE(head->decode_step(&a, 1, q.data(), o.data(), nullptr).is_ok());
      ASSERT_TRUE(group->decode_step(&b, 1, q.data(), o.data(), nullptr).is_ok());
      RequestTelemetry th, tg;
      ASSERT_TRUE(head->request_telemetry(a, &th).is_ok() && group->request_telemetry(b, &tg).is_ok());
      ASSERT_EQ(tg.missed_mass_bound.size(), s.q_heads);
      for (uint32_t h = 0; h < s.q_heads; ++h) {
        EXPECT_GE(tg.missed_mass_bound[h], th.missed_mass_bound[h] * (1.0f - 1e-6f)) << "head " << h;
      }
      // The row select() wrote is the reference's value for the selection.
      Backend& backend = RuntimeInternals::backend(*group);
      std::vector<float> scores(size_t(s.groups) * s.max_units), bound(s.groups);
      int32_t tokens = 0;
      ASSERT_TRUE(backend.read_buffer("sel.scores", scores.data(), scores.size() * 4).is_ok());
      ASSERT_TRUE(backend.read_buffer("io.group_unselected_log_bound", bound.data(), bound.size() * 4).is_ok());
      ASSERT_TRUE(backend.read_buffer("req.length", &tokens, 4).is_ok());
      std::vector<int32_t> units(size_t(s.groups) * s.budget);
      ASSERT_TRUE(group->selected_units(b, units.data(), units.size()).is_ok());
      for (uint32_t g = 0; g < s.groups; ++g) {
        const double r =
            reference::group_log_bound(s, &scores[uint64_t(g) * s.max_units], reference::unit_count(s, tokens));
        EXPECT_TRUE(std::isfinite(r));
        EXPECT_EQ(bound[g], round_up_to_float(r)) << "group " << g;
      }
    }
  }
}

// An artifact may carry the group bound only where the scores bound every
// head of the group, in its documented shape.
TEST(Telemetry, TheLoadChecksTheGroupBound) {
  auto load = [](const ConfigSpec& spec, artifact::Symbol rows) {
    RuntimeOptions options;
    options.backend = BackendKind::Cpu;
    std::unique_ptr<Runtime> rt;
    EXPECT_TRUE(Runtime::create(options, &rt).is_ok());
    const std::vector<uint8_t> bytes = test::build_artifact(test::make_config(spec), "sm_90a", spec.test_algorithm(), rows);
    return rt->load_artifact(bytes.data(), bytes.size());
  };
  for (const char* combine : {"sum", "mean_query"}) {
    ConfigSpec spec;
    spec.combine = combine;
    const Status s = load(spec, artifact::Symbol::Groups);
    EXPECT_EQ(s.code(), StatusCode::InvalidArtifact) << combine;
    EXPECT_NE(s.message().find("combine = max only"), std::string::npos) << s.message();
  }
  {
    ConfigSpec spec;
    spec.algorithm = "streaming_llm";
    spec.window = spec.budget - spec.sinks;
    EXPECT_EQ(load(spec, artifact::Symbol::Groups).code(), StatusCode::InvalidArtifact);
  }
  {  // [B][Hq] where the contract says [B][S]
    const Status s = load(ConfigSpec{}, artifact::Symbol::QHeads);
    EXPECT_EQ(s.code(), StatusCode::InvalidArtifact);
    EXPECT_NE(s.message().find("must be a device f32 [B][S]"), std::string::npos) << s.message();
  }
  EXPECT_TRUE(load(ConfigSpec{}, artifact::Symbol::Groups).is_ok());  // Quest max, [B][S]
}

TEST(Telemetry, EverythingSelectedMissesNothing) {
  ConfigSpec spec;
  spec.budget = 8, spec.capacity = 16;  // 30 tokens = 8 units of 4
  RuntimeOptions options;
  options.backend = BackendKind::Cpu;
  options.telemetry = true;
  options.max_context_tokens = 64;
  std::unique_ptr<Runtime> rt;
  ASSERT_TRUE(Runtime::create(options, &rt).is_ok());
  const std::vector<uint8_t> bytes = test::build_artifact(test::make_config(spec), "sm_90a", spec.test_algorithm());
  ASSERT_TRUE(rt->load_artifact(bytes.data(), bytes.size()).is_ok());
  const LayerShape& s = RuntimeInternals::shape(*rt);
  std::mt19937 rng(3);
  RequestId id = 0;
  ASSERT_TRUE(rt->create_request(&id).is_ok());
  RequestTelemetry t;
  EXPECT_EQ(rt->request_telemetry(id, &t).code(), StatusCode::NotFound);  // no step yet
  const std::vector<uint16_t> k = test::random_kv(rng, 30 * s.kv_heads * s.head_dim, s.dtype);
  ASSERT_TRUE(rt->prefill(id, k.data(), k.data(), 30).is_ok());
  const std::vector<uint16_t> q = test::random_kv(rng, size_t(s.q_heads) * s.head_dim, s.dtype);
  std::vector<uint16_t> o(size_t(s.q_heads) * s.value_dim);
  ASSERT_TRUE(rt->decode_step(&id, 1, q.data(), o.data(), nullptr).is_ok());
  ASSERT_TRUE(rt->request_telemetry(id, &t).is_ok());
  for (float m : t.missed_mass_bound) EXPECT_EQ(m, 0.0f);
  EXPECT_EQ(t.max_missed_mass_bound, 0.0f);
}

TEST(Telemetry, WithoutABoundOrOffSaysSo) {
  ConfigSpec spec;
  spec.algorithm = "streaming_llm";
  spec.window = spec.budget - spec.sinks;
  for (bool on : {true, false}) {
    RuntimeOptions options;
    options.backend = BackendKind::Cpu;
    options.telemetry = on;
    std::unique_ptr<Runtime> rt;
    ASSERT_TRUE(Runtime::create(options, &rt).is_ok());
    const std::vector<uint8_t> bytes = test::build_artifact(test::make_config(spec), "sm_90a", spec.test_algorithm());
    ASSERT_TRUE(rt->load_artifact(bytes.data(), bytes.size()).is_ok());
    const LayerShape& s = RuntimeInternals::shape(*rt);
    std::mt19937 rng(4);
    RequestId id = 0;
    ASSERT_TRUE(rt->create_request(&id).is_ok());
    const std::vector<uint16_t> k = test::random_kv(rng, 40 * s.kv_heads * s.head_dim, s.dtype);
    ASSERT_TRUE(rt->prefill(id, k.data(), k.data(), 40).is_ok());
    const std::vector<uint16_t> q = test::random_kv(rng, size_t(s.q_heads) * s.head_dim, s.dtype);
    std::vector<uint16_t> o(size_t(s.q_heads) * s.value_dim);
    ASSERT_TRUE(rt->decode_step(&id, 1, q.data(), o.data(), nullptr).is_ok());
    RequestTelemetry t;
    const Status status = rt->request_telemetry(id, &t);
    if (!on) {
      EXPECT_EQ(status.code(), StatusCode::InvalidArgument);
      EXPECT_NE(status.message().find("RuntimeOptions::telemetry"), std::string::npos) << status.message();
      continue;
    }
    ASSERT_TRUE(status.is_ok()) << status.message();
    EXPECT_FALSE(t.has_bound);  // StreamingLLM's selection bounds nothing it skips
    EXPECT_TRUE(t.missed_mass_bound.empty());
    EXPECT_EQ(t.selected_lse.size(), s.q_heads);
    for (float lse : t.selected_lse) EXPECT_TRUE(std::isfinite(lse));
  }
}

}  // namespace
}  // namespace hsa

#if HSA_RUNTIME_HAS_CUDA
namespace hsa {
namespace {

// The CUDA backend's telemetry over a fake driver (kernels are no-ops): the
// load refuses an artifact whose kernels lack the algorithm's bound, and
// request_telemetry reads the kernels' io.lse and io.unselected_log_bound
// rows of the request's slot and forms the bound as the CPU backend does.
std::unique_ptr<Runtime> cuda_runtime(test::FakeCudaDriver& fake, bool telemetry) {
  RuntimeOptions options;
  options.backend = BackendKind::Cuda;
  options.telemetry = telemetry;
  options.max_batch = 2;
  options.max_context_tokens = 256;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Runtime> rt;
  if (!create_cuda_backend(options, fake.table(), &backend).is_ok() ||
      !RuntimeInternals::create(options, std::move(backend), &rt).is_ok())
    return nullptr;
  return rt;
}

// cuda_runtime with `bytes` loaded (null, and a failure, if it does not load).
std::unique_ptr<Runtime> loaded_cuda_runtime(test::FakeCudaDriver& fake, const std::vector<uint8_t>& bytes) {
  std::unique_ptr<Runtime> rt = cuda_runtime(fake, true);
  if (!rt) return nullptr;
  const Status loaded = rt->load_artifact(bytes.data(), bytes.size());
  EXPECT_TRUE(loaded.is_ok()) << loaded.message();
  return loaded.is_ok() ? std::move(rt) : nullptr;
}

TEST(CudaTelemetry, TheLoadRefusesKernelsWithoutTheBound) {
  const artifact::LayerConfigRecord c = artifact::small_selecting_config();
  const std::vector<uint8_t> quest = artifact::make_test_artifact(c);
  {
    test::FakeCudaDriver fake;
    std::unique_ptr<Runtime> rt = cuda_runtime(fake, true);
    ASSERT_TRUE(rt);
    const Status s = rt->load_artifact(quest.data(), quest.size());
    EXPECT_EQ(s.code(), StatusCode::Unsupported);
    EXPECT_NE(s.message().find("neither 'io.unselected_log_bound' nor 'io.group_unselected_log_bound'"),
              std::string::npos)
        << s.message();
    EXPECT_NE(s.message().find("hsa-compile --telemetry"), std::string::npos) << s.message();
  }
  {
    test::FakeCudaDriver fake;  // telemetry off: the same artifact loads
    std::unique_ptr<Runtime> rt = cuda_runtime(fake, false);
    ASSERT_TRUE(rt);
    EXPECT_TRUE(rt->load_artifact(quest.data(), quest.size()).is_ok());
  }
  {
    test::FakeCudaDriver fake;  // StreamingLLM bounds nothing: io.lse is enough
    artifact::LayerConfigRecord s = c;
    s.sink_units = 1;
    s.window_units = s.budget_units - 1;
    const std::vector<uint8_t> streaming =
        artifact::make_test_artifact(s, "sm_90a", artifact::TestAlgorithm::streaming_llm());
    std::unique_ptr<Runtime> rt = cuda_runtime(fake, true);
    ASSERT_TRUE(rt);
    const Status loaded = rt->load_artifact(streaming.data(), streaming.size());
    EXPECT_TRUE(loaded.is_ok()) << loaded.message();
  }
  {
    test::FakeCudaDriver fake;  // Quest max with the top-k's group bound only: enough
    const std::vector<uint8_t> grouped = artifact::make_test_artifact(c, "sm_90a", artifact::TestAlgorithm::quest(), 0,
                                                                      false, true, /*group_bound=*/true);
    EXPECT_TRUE(loaded_cuda_runtime(fake, grouped));
  }
}

TEST(CudaTelemetry, ReadsTheKernelsRowsOfTheSlot) {
  const artifact::LayerConfigRecord c = artifact::small_selecting_config();
  const std::vector<uint8_t> bytes =
      artifact::make_test_artifact(c, "sm_90a", artifact::TestAlgorithm::quest(), 0, /*telemetry_bound=*/true);
  test::FakeCudaDriver fake;
  std::unique_ptr<Runtime> rt = loaded_cuda_runtime(fake, bytes);
  ASSERT_TRUE(rt);
  const LayerShape& s = RuntimeInternals::shape(*rt);
  const uint32_t H = s.q_heads;
  std::mt19937 rng(7);
  RequestId first = 0, id = 0;
  ASSERT_TRUE(rt->create_request(&first).is_ok());
  ASSERT_TRUE(rt->create_request(&id).is_ok());
  uint32_t slot = 0;
  ASSERT_TRUE(RuntimeInternals::slot_of(*rt, id, &slot).is_ok());
  RequestTelemetry t;
  EXPECT_EQ(rt->request_telemetry(id, &t).code(), StatusCode::NotFound);  // no step yet
  const std::vector<uint16_t> k = test::random_kv(rng, 40 * s.kv_heads * s.head_dim, s.dtype);
  ASSERT_TRUE(rt->prefill(id, k.data(), k.data(), 40).is_ok());
  const std::vector<uint16_t> q = test::random_kv(rng, size_t(H) * s.head_dim, s.dtype);
  std::vector<uint16_t> o(size_t(H) * s.value_dim);
  ASSERT_TRUE(rt->decode_step(&id, 1, q.data(), o.data(), nullptr).is_ok());
  // What the kernels would have left: the other slot's rows are noise.
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> lse(size_t(s.batch) * H, 123.0f), log_bound(size_t(s.batch) * H, -7.0f);
  const float lse_row[8] = {2.5f, 0.0f, -inf, 3.0f, 10.0f, 1.0f, -1.0f, 4.0f};
  const float bound_row[8] = {2.5f, -inf, 1.0f, -inf, 0.0f, 30.0f, -1.0f, 4.0f - std::log(3.0f)};
  ASSERT_EQ(H, 8u);
  std::copy(lse_row, lse_row + H, lse.begin() + slot * H);
  std::copy(bound_row, bound_row + H, log_bound.begin() + slot * H);
  Backend& backend = RuntimeInternals::backend(*rt);
  ASSERT_TRUE(backend.write_buffer("io.lse", lse.data(), lse.size() * sizeof(float)).is_ok());
  ASSERT_TRUE(backend.write_buffer("io.unselected_log_bound", log_bound.data(), log_bound.size() * sizeof(float)).is_ok());
  const Status read = rt->request_telemetry(id, &t);
  ASSERT_TRUE(read.is_ok()) << read.message();
  EXPECT_EQ(t.step, 1u);
  ASSERT_EQ(t.selected_lse.size(), H);
  for (uint32_t h = 0; h < H; ++h) EXPECT_EQ(t.selected_lse[h], lse_row[h]) << h;
  ASSERT_TRUE(t.has_bound);
  ASSERT_EQ(t.missed_mass_bound.size(), H);
  // U / (Z_sel + U): equal logs give 1/2; no unselected mass 0 (also with no
  // selected token); no selected token 1; 1 / (1 + 3) for log U = lse - log 3.
  const float expected[8] = {0.5f, 0.0f, 1.0f, 0.0f, float(1.0 / (1.0 + std::exp(10.0))), 1.0f, 0.5f, 0.25f};
  float max_bound = 0.0f;
  for (uint32_t h = 0; h < H; ++h) {
    EXPECT_NEAR(t.missed_mass_bound[h], expected[h], 1e-6) << h;
    EXPECT_GE(double(t.missed_mass_bound[h]), missed_mass_bound(lse_row[h], bound_row[h])) << h << ": rounded up";
    max_bound = std::max(max_bound, t.missed_mass_bound[h]);
  }
  EXPECT_EQ(t.max_missed_mass_bound, max_bound);
  EXPECT_EQ(rt->request_telemetry(first, &t).code(), StatusCode::NotFound);  // the other request never stepped

  // The step report: the same rows, copied on a stream and read without a wait.
  int stream_storage = 0;
  bool ready = true;
  RequestTelemetry r;
  EXPECT_EQ(rt->step_report_telemetry(id, &r, &ready).code(), StatusCode::InvalidArgument);  // none enqueued
  auto syncs = [&] {
    return fake.calls_of("cuStreamSynchronize") + fake.calls_of("cuCtxSynchronize") +
           fake.calls_of("cuEventSynchronize");
  };
  uint64_t before = syncs();
  ASSERT_TRUE(rt->enqueue_step_report(&stream_storage).is_ok());
  EXPECT_EQ(syncs(), before);
  std::fill(lse.begin(), lse.end(), 99.0f);  // the kernels' next rows do not reach the report
  ASSERT_TRUE(backend.write_buffer("io.lse", lse.data(), lse.size() * sizeof(float)).is_ok());
  before = syncs();
  fake.event_query = CUDA_ERROR_NOT_READY;
  ASSERT_TRUE(rt->step_report_telemetry(id, &r, &ready).is_ok());
  EXPECT_FALSE(ready);
  fake.event_query = CUDA_SUCCESS;
  ASSERT_TRUE(rt->step_report_telemetry(id, &r, &ready).is_ok());
  ASSERT_TRUE(ready);
  EXPECT_EQ(syncs(), before);
  EXPECT_EQ(r.step, 1u);
  EXPECT_EQ(r.selected_lse, std::vector<float>(lse_row, lse_row + H));
  EXPECT_EQ(r.missed_mass_bound, t.missed_mass_bound);
  EXPECT_EQ(rt->step_report_telemetry(first, &r, &ready).code(), StatusCode::NotFound);
}

// The group bound's row: each head takes its group's log U_g; with the
// per-head bound too, the tighter of the two.
TEST(CudaTelemetry, ReadsTheGroupRowAndKeepsTheTighterBound) {
  const artifact::LayerConfigRecord c = artifact::small_selecting_config();
  for (bool with_head : {false, true}) {
    const std::vector<uint8_t> bytes = artifact::make_test_artifact(c, "sm_90a", artifact::TestAlgorithm::quest(), 0,
                                                                    with_head, true, /*group_bound=*/true);
    test::FakeCudaDriver fake;
    std::unique_ptr<Runtime> rt = loaded_cuda_runtime(fake, bytes);
    ASSERT_TRUE(rt);
    const LayerShape& s = RuntimeInternals::shape(*rt);
    ASSERT_TRUE(s.group_bound);
    ASSERT_EQ(s.head_bound, with_head);
    const uint32_t H = s.q_heads, S = s.groups;
    ASSERT_EQ(H, 8u);
    ASSERT_GE(S, 2u);
    std::mt19937 rng(9);
    RequestId id = 0;
    ASSERT_TRUE(rt->create_request(&id).is_ok());
    uint32_t slot = 0;
    ASSERT_TRUE(RuntimeInternals::slot_of(*rt, id, &slot).is_ok());
    const std::vector<uint16_t> k = test::random_kv(rng, 40 * s.kv_heads * s.head_dim, s.dtype);
    ASSERT_TRUE(rt->prefill(id, k.data(), k.data(), 40).is_ok());
    const std::vector<uint16_t> q = test::random_kv(rng, size_t(H) * s.head_dim, s.dtype);
    std::vector<uint16_t> o(size_t(H) * s.value_dim);
    ASSERT_TRUE(rt->decode_step(&id, 1, q.data(), o.data(), nullptr).is_ok());
    std::vector<float> lse(size_t(s.batch) * H, 0.0f), head(size_t(s.batch) * H, 5.0f), group(size_t(s.batch) * S, 9.0f);
    for (uint32_t g = 0; g < S; ++g) group[slot * S + g] = -float(g);  // group g: log U = -g
    Backend& backend = RuntimeInternals::backend(*rt);
    ASSERT_TRUE(backend.write_buffer("io.lse", lse.data(), lse.size() * 4).is_ok());
    ASSERT_TRUE(backend.write_buffer("io.group_unselected_log_bound", group.data(), group.size() * 4).is_ok());
    if (with_head) {
      head[slot * H + 0] = -20.0f;  // tighter than its group's
      ASSERT_TRUE(backend.write_buffer("io.unselected_log_bound", head.data(), head.size() * 4).is_ok());
    }
    RequestTelemetry t;
    ASSERT_TRUE(rt->request_telemetry(id, &t).is_ok());
    ASSERT_TRUE(t.has_bound);
    for (uint32_t h = 0; h < H; ++h) {
      const uint32_t g = (h / s.group_size) / s.heads_per_unit;
      const double expected = with_head && h == 0 ? missed_mass_bound(0.0, -20.0) : missed_mass_bound(0.0, -double(g));
      EXPECT_NEAR(t.missed_mass_bound[h], expected, 1e-6) << "head " << h;
    }
  }
}

}  // namespace
}  // namespace hsa
#endif
