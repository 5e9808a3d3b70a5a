// The stage checker on the CPU backend: it passes on the reference itself,
// and each stage's check fails when the snapshot or the results are perturbed
// (a check that cannot fail checks nothing). Also the backend debug access
// (read_buffer / write_buffer), buffer fills and request resets.
#include <gtest/gtest.h>

#include <cstring>

#include "hsa/page_table_contract.h"
#include "runtime_internal.h"
#include "stage_check.h"
#include "test_support.h"

namespace hsa {
namespace {
using namespace artifact;

// A CPU runtime with B requests prefilled with random tokens.
struct Fixture {
  test::ConfigSpec spec;
  std::unique_ptr<Runtime> rt;
  std::vector<RequestId> ids;
  std::mt19937 rng{11};
  LayerShape shape;

  explicit Fixture(test::ConfigSpec s = {}, std::vector<uint32_t> lengths = {70, 45}, bool extra_buffers = false,
                   bool telemetry = false, bool group_bound = false)
      : spec(s) {
    RuntimeOptions options;
    options.backend = BackendKind::Cpu;
    options.telemetry = telemetry;
    options.max_batch = uint32_t(lengths.size());
    options.max_context_tokens = 256;
    EXPECT_TRUE(Runtime::create(options, &rt).is_ok());
    std::vector<uint8_t> bytes;
    if (extra_buffers) {  // the free-form buffers a compiler emits: the CPU backend ignores them
      ArtifactWriter w;
      w.set_layer_config(test::make_config(spec));
      w.set_algorithm(spec.test_algorithm().name, spec.test_algorithm().params);
      w.set_target("sm_90a", 80);
      w.add_documented_buffers(test::layer_algorithm_buffers(w));
      w.add_buffer("scratch.attn_o", Tier::Device, ElementType::F32, BufferScope::PerBatchSlot,
                   {Expr::sym(Symbol::Batch), Expr::sym(Symbol::QHeads), Expr::constant(4), Expr::sym(Symbol::ValueDim)});
      const std::vector<Arg> args = w.memref_args(w.buffer_index("scratch.attn_o"));
      const uint32_t k = w.add_kernel("noop", "noop", {}, noop_kernel_ptx("sm_90a", "noop", args), Expr::constant(0));
      for (const char* plan : {"prefill", "decode_step", "append"})
        w.add_plan(plan, {LaunchSpec{k,
                                     {Expr::constant(1), Expr::constant(1), Expr::constant(1)},
                                     {Expr::constant(32), Expr::constant(1), Expr::constant(1)},
                                     Expr::constant(0),
                                     args}});
      bytes = w.finish();
    } else {
      bytes = test::build_artifact(test::make_config(spec), "sm_90a", spec.test_algorithm(),
                                   group_bound ? std::optional(Symbol::Groups) : std::nullopt);
    }
    const Status loaded = rt->load_artifact(bytes.data(), bytes.size());
    EXPECT_TRUE(loaded.is_ok()) << loaded.message();
    shape = RuntimeInternals::shape(*rt);
    for (uint32_t length : lengths) {
      RequestId id = 0;
      EXPECT_TRUE(rt->create_request(&id).is_ok());
      const size_t n = size_t(length) * shape.kv_heads;
      std::vector<uint16_t> k = test::random_kv(rng, n * shape.head_dim, shape.dtype);
      std::vector<uint16_t> v = test::random_kv(rng, n * shape.value_dim, shape.dtype);
      EXPECT_TRUE(rt->prefill(id, k.data(), v.data(), length).is_ok());
      ids.push_back(id);
    }
  }

  void append() {
    const size_t B = ids.size();
    std::vector<uint16_t> k = test::random_kv(rng, B * shape.kv_heads * shape.head_dim, shape.dtype);
    std::vector<uint16_t> v = test::random_kv(rng, B * shape.kv_heads * shape.value_dim, shape.dtype);
    ASSERT_TRUE(rt->append(ids.data(), B, k.data(), v.data()).is_ok());
  }

  // One checked step (append first); returns the report.
  StageCheckReport step(int64_t number, const std::function<void(StepCapture&)>& perturb = nullptr,
                        std::unique_ptr<StepCapture>* workspace = nullptr) {
    append();
    std::vector<uint16_t> q = test::random_kv(rng, ids.size() * shape.q_heads * shape.head_dim, shape.dtype);
    std::vector<uint16_t> o(ids.size() * shape.q_heads * shape.value_dim);
    StageCheckOptions options;
    options.step = number;
    options.perturb = perturb;
    options.workspace = workspace;
    StageCheckReport report;
    StepStats stats;
    const Status status = checked_decode_step(*rt, ids.data(), ids.size(), q.data(), o.data(), &stats, options, &report);
    EXPECT_TRUE(status.is_ok()) << status.message();
    return report;
  }

  // The first (b, g, c) of the call's first slot whose slot is resident and
  // not copied this step (a hit), or whose slot was copied (a miss).
  static bool find_slot(const LayerShape& s, const StepCapture& cap, bool copied, uint32_t* g_out, uint32_t* c_out) {
    const uint32_t b = cap.slots[0];
    for (uint32_t g = 0; g < s.groups; ++g) {
      const uint64_t gi = uint64_t(b) * s.groups + g;
      for (uint32_t c = 0; c < s.capacity; ++c) {
        if (cap.after.buf_slot_unit[gi * s.capacity + c] < 0) continue;
        bool in_list = false;
        for (int32_t i = 0; i < cap.after.sel_copy_count[gi]; ++i)
          in_list |= cap.after.sel_copy_slots[gi * s.budget + i] == int32_t(c);
        if (in_list == copied) {
          *g_out = g;
          *c_out = c;
          return true;
        }
      }
    }
    return false;
  }
};

void expect_only_stage_fails(const StageCheckReport& r, CheckStage stage, const std::string& needle) {
  EXPECT_FALSE(r.passed);
  for (int i = 0; i < kCheckStageCount; ++i) {
    if (CheckStage(i) == stage) {
      EXPECT_FALSE(r.stages[i].passed) << check_stage_name(stage);
      EXPECT_GT(r.stages[i].mismatches, 0u);
    } else if (i < int(stage)) {
      EXPECT_TRUE(r.stages[i].passed) << check_stage_name(CheckStage(i)) << ": " << r.stages[i].first_mismatch;
    }
  }
  EXPECT_NE(r.message.find(std::string("stage ") + check_stage_name(stage)), std::string::npos) << r.message;
  EXPECT_NE(r.message.find(needle), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("step 3, request "), std::string::npos) << r.message;
}

TEST(StageCheck, PassesOnTheCpuBackendAcrossSteps) {
  for (SelectionScope scope : {SelectionScope::KvHead, SelectionScope::Request}) {
    test::ConfigSpec spec;
    spec.scope = scope;
    spec.q_heads = 8;
    spec.kv_heads = 4;
    Fixture f(spec, {70, 45, 9});
    StageCheckReport total;
    for (int step = 0; step < 12; ++step) {
      const StageCheckReport r = f.step(step);
      EXPECT_TRUE(r.passed) << r.message;
      total.merge(r);
    }
    EXPECT_TRUE(total.passed) << total.message;
    for (const StageOutcome& o : total.stages) EXPECT_GT(o.compared, 0u);
    EXPECT_EQ(total.stage(CheckStage::Score).worst_error, 0.0);  // the same reference code
    EXPECT_GT(total.stage(CheckStage::Attend).worst_error, 0.0);  // bf16 output vs fp32 reference
    EXPECT_LT(total.stage(CheckStage::Attend).worst_error, kAttendTolerance);
    EXPECT_NE(total.summary().find("attend ok"), std::string::npos) << total.summary();
  }
}

TEST(StageCheck, PassesForStreamingLlmAndIgnoresFreeFormBuffers) {
  test::ConfigSpec spec;
  spec.algorithm = "streaming_llm";
  spec.budget = spec.sinks + spec.window;  // it selects exactly the forced units
  Fixture streaming(spec);
  for (int step = 0; step < 4; ++step) EXPECT_TRUE(streaming.step(step).passed);
  Fixture extra(test::ConfigSpec{}, {70, 45}, /*extra_buffers=*/true);
  for (int step = 0; step < 4; ++step) EXPECT_TRUE(extra.step(step).passed);
  std::vector<float> scratch(2 * 4 * 4 * 16);
  const Status s = RuntimeInternals::backend(*extra.rt).read_buffer("scratch.attn_o", scratch.data(), scratch.size() * 4);
  EXPECT_EQ(s.code(), StatusCode::NotFound) << s.message();
}

// ClusterKV: prefill k-means, appends that take the nearest centroid, and
// re-clusterings every 6 tokens (2 centroids each, up to 11), replayed by the
// checker's model and checked by the package (docs/algorithms/cluster_kv.md).
TEST(StageCheck, ClusterKvPassesAndCatchesWrongCentroids) {
  test::ConfigSpec spec;
  spec.algorithm = "cluster_kv";
  Fixture f(spec, {70, 9});
  std::unique_ptr<StepCapture> workspace;
  for (int step = 0; step < 20; ++step) {
    const StageCheckReport r = f.step(step, nullptr, &workspace);
    ASSERT_TRUE(r.passed) << r.message;
    EXPECT_GT(r.stage(CheckStage::Repr).compared, 0u);
  }
  // 70 prompt tokens: 5 centroids, then 20 appends close 3 segments (76, 82,
  // 88): 5 + 2 + 2 + 2 = 11, the table's size; the 9-token prompt likewise.
  std::vector<int32_t> state(2 * f.shape.batch);
  ASSERT_TRUE(RuntimeInternals::backend(*f.rt).read_buffer("repr.cluster_state", state.data(), state.size() * 4).is_ok());
  EXPECT_EQ(state, (std::vector<int32_t>{11, 88, 11, 27}));
  // A token moved to another centroid (of its range: not the nearest) is caught.
  // (Token 80 is in the segment [76, 82), whose centroids are 7 and 8.)
  StageCheckReport r = f.step(3, [&](StepCapture& cap) {
    const BufferView<int32_t> of = cap.before.view<int32_t>("repr.cluster_of");
    const uint64_t at = uint64_t(cap.slots[0]) * f.shape.kv_heads * f.shape.max_tokens() + 80;
    of[at] = of[at] == 7 ? 8 : 7;
  });
  expect_only_stage_fails(r, CheckStage::Repr, "is not the nearest of the device's centroids");
  r = f.step(3, [&](StepCapture& cap) {
    const BufferView<int32_t> of = cap.before.view<int32_t>("repr.cluster_of");
    of[uint64_t(cap.slots[0]) * f.shape.kv_heads * f.shape.max_tokens() + 80] = 5;
  });
  expect_only_stage_fails(r, CheckStage::Repr, "token 80] = 5: outside the centroids [7, 9) it chooses from");
  r = f.step(3, [&](StepCapture& cap) { cap.before.view<int32_t>("repr.cluster_state")[0] += 1; });
  expect_only_stage_fails(r, CheckStage::Repr, "repr.cluster_state[0][0] (centroids in use): expected 11");
}

TEST(StageCheck, ReprMismatchIsCaught) {
  Fixture f;
  const StageCheckReport r = f.step(3, [&](StepCapture& cap) {
    // The snapshot (what the device's prefill/append built) disagrees with the host pool.
    const uint64_t at = ((uint64_t(cap.slots[1]) * f.shape.kv_heads + 1) * f.shape.max_units + 4) * f.shape.head_dim + 9;
    const BufferView<uint16_t> kmax = cap.before.view<uint16_t>("repr.kmax");
    kmax[at] = float_to_bf16(bf16_to_float(kmax[at]) + 0.25f);
  });
  expect_only_stage_fails(r, CheckStage::Repr, "repr.kmax[1][kv head 1][unit 4][dim 9]: expected");
  EXPECT_NE(r.message.find("batch slot 1"), std::string::npos) << r.message;
}

TEST(StageCheck, StaleRepresentationWrittenThroughWriteBufferIsCaught) {
  Fixture f;
  std::unique_ptr<StepCapture> workspace;
  ASSERT_TRUE(f.step(0, nullptr, &workspace).passed);
  Backend& backend = RuntimeInternals::backend(*f.rt);
  const LayerShape& s = f.shape;
  std::vector<uint16_t> kmin(size_t(s.batch) * s.kv_heads * s.max_units * s.head_dim);
  auto corrupt = [&](uint32_t unit) {
    ASSERT_TRUE(backend.read_buffer("repr.kmin", kmin.data(), kmin.size() * 2).is_ok());
    kmin[(uint64_t(0) * s.kv_heads * s.max_units + unit) * s.head_dim] = 0x4700;  // slot 0, kv head 0: min 32768
    ASSERT_TRUE(backend.write_buffer("repr.kmin", kmin.data(), kmin.size() * 2).is_ok());
  };
  // With a workspace, a request already checked in full is then checked only
  // on its last two units (what appends change): an old unit's corruption is
  // out of scope there ...
  corrupt(3);
  StageCheckReport r = f.step(1, nullptr, &workspace);
  EXPECT_TRUE(r.stage(CheckStage::Repr).passed) << r.stage(CheckStage::Repr).first_mismatch;
  // ... and caught by a full check (no workspace: every unit).
  r = f.step(3);
  expect_only_stage_fails(r, CheckStage::Repr, "repr.kmin[0][kv head 0][unit 3][dim 0]");
  // The last two units (what appends change) are checked every step: after
  // the next append the request has 74 tokens, units 0..18 (P = 4).
  corrupt(17);
  r = f.step(3, nullptr, &workspace);
  expect_only_stage_fails(r, CheckStage::Repr, "repr.kmin[0][kv head 0][unit 17][dim 0]: expected");
}

TEST(StageCheck, ScoreMismatchIsCaught) {
  Fixture f;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(f.step(i).passed);
  const StageCheckReport r = f.step(3, [&](StepCapture& cap) {
    // A finite score (unit 2 of group 1 is neither sink nor window) off by 1%.
    float& x = cap.after.sel_scores[(uint64_t(cap.slots[0]) * f.shape.groups + 1) * f.shape.max_units + 2];
    ASSERT_TRUE(std::isfinite(x));
    x = x * 1.01f + 0.5f;
  });
  expect_only_stage_fails(r, CheckStage::Score, "sel.scores[0][1][2] (unit 2): expected");
  EXPECT_NE(r.message.find("group 1"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("> bound"), std::string::npos) << r.message;
}

TEST(StageCheck, InfinitiesMustMatchExactly) {
  Fixture f;
  const StageCheckReport r = f.step(3, [&](StepCapture& cap) {
    float& sink = cap.after.sel_scores[uint64_t(cap.slots[0]) * f.shape.groups * f.shape.max_units];  // unit 0: sink
    ASSERT_EQ(sink, INFINITY);
    sink = 3.0e38f;
  });
  expect_only_stage_fails(r, CheckStage::Score, "+-inf must match exactly");
}

TEST(StageCheck, TopKMismatchIsCaught) {
  Fixture f;
  const StageCheckReport r = f.step(3, [&](StepCapture& cap) {
    int32_t* units = &cap.after.sel_units[uint64_t(cap.slots[0]) * f.shape.groups * f.shape.budget];
    units[1] += 1;  // a unit the reference did not select (units ascend, so +1 of a middle one is free or taken)
    if (units[1] == units[2]) units[1] = units[3] + 100;
  });
  expect_only_stage_fails(r, CheckStage::TopK, "sel.units[0][0][1]: expected unit");
}

TEST(StageCheck, DiffMismatchesAreCaught) {
  {  // the device put a selected unit in another slot
    Fixture f;
    const StageCheckReport r = f.step(3, [&](StepCapture& cap) {
      cap.after.sel_slots[uint64_t(cap.slots[0]) * f.shape.groups * f.shape.budget] ^= 1;
    });
    expect_only_stage_fails(r, CheckStage::Diff, "sel.slots[0][0][0]");
  }
  {  // the pre-step LRU state differs: the reference picks other victims
    Fixture f;
    for (int i = 0; i < 2; ++i) ASSERT_TRUE(f.step(i).passed);
    const StageCheckReport r = f.step(3, [&](StepCapture& cap) {
      const uint64_t row = uint64_t(cap.slots[0]) * f.shape.groups * f.shape.capacity;
      for (uint32_t c = 0; c < f.shape.capacity; ++c) cap.before.buf_slot_unit[row + c] = -1;  // "nothing resident"
    });
    EXPECT_FALSE(r.stage(CheckStage::Diff).passed);
    EXPECT_NE(r.message.find("stage diff"), std::string::npos) << r.message;
  }
  {  // a wrong miss count
    Fixture f;
    const StageCheckReport r = f.step(3, [&](StepCapture& cap) {
      cap.after.sel_copy_count[uint64_t(cap.slots[0]) * f.shape.groups + 1] += 1;
    });
    expect_only_stage_fails(r, CheckStage::Diff, "sel.copy_count[0][1][0] (misses)");
  }
  {  // last_used not stamped
    Fixture f;
    const StageCheckReport r = f.step(3, [&](StepCapture& cap) {
      const uint64_t gi = uint64_t(cap.slots[0]) * f.shape.groups;
      const int32_t slot = cap.after.sel_slots[gi * f.shape.budget];
      cap.after.buf_last_used[gi * f.shape.capacity + slot] -= 1;
    });
    expect_only_stage_fails(r, CheckStage::Diff, "buf.last_used[0][0]");
  }
}

TEST(StageCheck, GatherMismatchesAreCaught) {
  {  // a copied slot holds a wrong element
    Fixture f;
    const StageCheckReport r = f.step(3, [&](StepCapture& cap) {
      uint32_t g = 0, c = 0;
      ASSERT_TRUE(Fixture::find_slot(f.shape, cap, /*copied=*/true, &g, &c));
      const uint64_t unit = uint64_t(f.shape.heads_per_unit) * f.shape.page_size * f.shape.head_dim;
      cap.after.buf_k[((uint64_t(cap.slots[0]) * f.shape.groups + g) * f.shape.capacity + c) * unit + 3] ^= 0x0100;
    });
    expect_only_stage_fails(r, CheckStage::Gather, "buf.k[0]");
    EXPECT_NE(r.message.find("(host page"), std::string::npos) << r.message;
  }
  {  // a slot outside the copy list was written during the step
    Fixture f;
    for (int i = 0; i < 2; ++i) ASSERT_TRUE(f.step(i).passed);
    const StageCheckReport r = f.step(3, [&](StepCapture& cap) {
      uint32_t g = 0, c = 0;
      ASSERT_TRUE(Fixture::find_slot(f.shape, cap, /*copied=*/false, &g, &c));
      const uint64_t unit = uint64_t(f.shape.heads_per_unit) * f.shape.page_size * f.shape.value_dim;
      cap.after.buf_v[((uint64_t(cap.slots[0]) * f.shape.groups + g) * f.shape.capacity + c) * unit] ^= 0x8000;
    });
    expect_only_stage_fails(r, CheckStage::Gather, "not in the copy list (only misses move)");
  }
}

TEST(StageCheck, StaleDeviceDataIsCaughtThroughWriteBuffer) {
  // Corrupt a resident unit on the "device" between steps (as a broken append
  // kernel would): the next checked step finds it in the gather stage.
  Fixture f;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(f.step(i).passed);
  Backend& backend = RuntimeInternals::backend(*f.rt);
  uint32_t slot = 0;
  ASSERT_TRUE(RuntimeInternals::slot_of(*f.rt, f.ids[0], &slot).is_ok());
  std::vector<int32_t> slot_unit(size_t(f.shape.batch) * f.shape.groups * f.shape.capacity);
  ASSERT_TRUE(backend.read_buffer("buf.slot_unit", slot_unit.data(), slot_unit.size() * 4).is_ok());
  std::vector<uint16_t> k(size_t(f.shape.batch) * f.shape.groups * f.shape.capacity * f.shape.heads_per_unit *
                          f.shape.page_size * f.shape.head_dim);
  ASSERT_TRUE(backend.read_buffer("buf.k", k.data(), k.size() * 2).is_ok());
  // Sink unit 0 is selected every step: resident, never copied again.
  const uint64_t row = uint64_t(slot) * f.shape.groups * f.shape.capacity;
  uint32_t c = 0;
  while (slot_unit[row + c] != 0) ++c;
  k[(row + c) * f.shape.heads_per_unit * f.shape.page_size * f.shape.head_dim] ^= 0x0001;
  ASSERT_TRUE(backend.write_buffer("buf.k", k.data(), k.size() * 2).is_ok());
  const StageCheckReport r = f.step(3);
  expect_only_stage_fails(r, CheckStage::Gather, "(unit 0, token 0, kv head 0)");
  // The corrupted key also changes the attention, but within the bf16 noise or
  // not: either way the first message is the gather one.
}

// io.lse is always compared; with telemetry also the backend's
// RequestTelemetry (LSE and Quest's bound) against the reference.
TEST(StageCheck, TelemetryIsComparedAndMismatchesAreCaught) {
  const uint32_t heads = Fixture().shape.q_heads;
  {
    Fixture f;
    const StageCheckReport r = f.step(3);
    EXPECT_TRUE(r.passed) << r.message;
    EXPECT_EQ(r.stage(CheckStage::Telemetry).compared, 2u * heads);  // io.lse of both requests
  }
  {
    Fixture f({}, {70, 45}, false, /*telemetry=*/true);
    const StageCheckReport r = f.step(3);
    EXPECT_TRUE(r.passed) << r.message;
    // io.lse, selected_lse, has_bound and the bound per head, both requests.
    EXPECT_EQ(r.stage(CheckStage::Telemetry).compared, 2u * (3 * heads + 1));
    EXPECT_NE(r.summary().find("telemetry ok"), std::string::npos) << r.summary();
  }
  {
    Fixture f({}, {70, 45}, false, true);
    const StageCheckReport r = f.step(3, [&](StepCapture& cap) {
      cap.after.io_lse[uint64_t(cap.slots[1]) * heads + 2] += 0.01f;
    });
    expect_only_stage_fails(r, CheckStage::Telemetry, "io.lse[");
    EXPECT_NE(r.message.find("[head 2]"), std::string::npos) << r.message;
  }
  {
    Fixture f({}, {70, 45}, false, true);
    const StageCheckReport r = f.step(3, [&](StepCapture& cap) { cap.telemetry[0].missed_mass_bound[1] += 0.01f; });
    expect_only_stage_fails(r, CheckStage::Telemetry, "missed_mass_bound[");
  }
  // The top-k's group bound (Quest max) is compared with telemetry off too,
  // and a device value off by more than its tolerance fails.
  const uint32_t groups = Fixture().shape.groups;
  {
    Fixture f({}, {70, 45}, false, false, /*group_bound=*/true);
    const StageCheckReport r = f.step(3);
    EXPECT_TRUE(r.passed) << r.message;
    EXPECT_EQ(r.stage(CheckStage::Telemetry).compared, 2u * (heads + groups));
  }
  {
    Fixture f({}, {70, 45}, false, true, true);
    const StageCheckReport r = f.step(3);
    EXPECT_TRUE(r.passed) << r.message;
  }
  for (float delta : {0.002f, -0.002f}) {
    Fixture f({}, {70, 45}, false, false, true);
    const StageCheckReport r = f.step(3, [&](StepCapture& cap) {
      cap.after.io_group_bound[uint64_t(cap.slots[1]) * groups + 1] += delta;
    });
    expect_only_stage_fails(r, CheckStage::Telemetry, "io.group_unselected_log_bound[");
  }
}

// reference::page_tables on a hand-made selection: each format's layout.
TEST(StageCheck, PageTablesOfEachFormat) {
  LayerShape s;
  s.batch = 2, s.groups = 1, s.budget = 3, s.capacity = 5, s.page_size = 4;
  // Row 0: 10 tokens = 3 units, all selected (the last holds 2 tokens), in
  // slots 4, 0, 2; row 1: empty.
  const int32_t units[] = {0, 1, 2, -1, -1, -1};
  const int32_t slots[] = {4, 0, 2, -1, -1, -1};
  const int32_t lengths[] = {10, 0};
  s.config.page_table_format = uint32_t(artifact::PageTableFormat::FlashAttnBlockTable);
  std::vector<std::vector<int32_t>> t = reference::page_tables(s, units, slots, lengths);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0], (std::vector<int32_t>{4, 0, 2, -1, -1, -1}));  // blocks b * C + slot
  EXPECT_EQ(t[1], (std::vector<int32_t>{10, 0}));                // (3 - 1) * 4 + 2 tokens
  s.config.page_table_format = uint32_t(artifact::PageTableFormat::FlashInferCsr);
  t = reference::page_tables(s, units, slots, lengths);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0], (std::vector<int32_t>{0, 3, 3}));
  EXPECT_EQ(std::vector<int32_t>(t[1].begin(), t[1].begin() + 3), (std::vector<int32_t>{4, 0, 2}));
  EXPECT_EQ(t[2], (std::vector<int32_t>{2, 0}));
  s.config.page_table_format = uint32_t(artifact::PageTableFormat::TokenIndices);
  t = reference::page_tables(s, units, slots, lengths);
  ASSERT_EQ(t.size(), 1u);
  const std::vector<int32_t> row0 = {16, 17, 18, 19, 0, 1, 2, 3, 8, 9, -1, -1};  // block * P + p, -1 past 10 tokens
  EXPECT_EQ(std::vector<int32_t>(t[0].begin(), t[0].begin() + 12), row0);
  EXPECT_EQ(std::vector<int32_t>(t[0].begin() + 12, t[0].end()), std::vector<int32_t>(12, -1));
  s.config.page_table_format = uint32_t(artifact::PageTableFormat::Native);
  EXPECT_TRUE(reference::page_tables(s, units, slots, lengths).empty());
}

// The exported tables the backend wrote (the CPU backend's here) are
// compared, and a wrong entry fails the diff stage.
TEST(StageCheck, PageTableMismatchIsCaught) {
  for (artifact::PageTableFormat format :
       {artifact::PageTableFormat::FlashAttnBlockTable, artifact::PageTableFormat::FlashInferCsr,
        artifact::PageTableFormat::TokenIndices}) {
    test::ConfigSpec spec;
    spec.scope = SelectionScope::Request;
    spec.format = format;
    for (bool corrupt : {false, true}) {
      Fixture f(spec);
      const StageCheckReport r = f.step(3, [&](StepCapture& cap) {
        ASSERT_EQ(cap.page_tables.size(), page_table_contract::tables(format).size());
        if (corrupt) cap.page_tables[0][1] += 1;
      });
      if (!corrupt) {
        EXPECT_TRUE(r.passed) << r.message;
        EXPECT_GT(r.stage(CheckStage::Diff).compared, 2u * f.shape.budget);
      } else {
        expect_only_stage_fails(r, CheckStage::Diff, page_table_contract::tables(format).begin()->name);
      }
    }
  }
}

TEST(StageCheck, AttendMismatchIsCaught) {
  {
    Fixture f;
    const StageCheckReport r = f.step(3, [&](StepCapture& cap) {
      const uint64_t row = uint64_t(f.shape.q_heads) * f.shape.value_dim;
      uint16_t& x = cap.after.io_o[cap.slots[1] * row + 3 * f.shape.value_dim + 7];
      x = float_to_bf16(bf16_to_float(x) + 1.0f);
    });
    expect_only_stage_fails(r, CheckStage::Attend, "io.o relative L2 error");
    EXPECT_NE(r.message.find("head 3][dim 7]"), std::string::npos) << r.message;
    EXPECT_NE(r.message.find("batch slot 1"), std::string::npos) << r.message;
  }
  {  // a page table entry outside the buffer: diff fails, and attend cannot run
    Fixture f;
    const StageCheckReport r = f.step(3, [&](StepCapture& cap) {
      cap.after.sel_slots[uint64_t(cap.slots[0]) * f.shape.groups * f.shape.budget] = int32_t(f.shape.capacity);
    });
    EXPECT_FALSE(r.stage(CheckStage::Attend).passed);
    EXPECT_NE(r.stage(CheckStage::Attend).first_mismatch.find("is not a slot in [0, 8)"), std::string::npos)
        << r.stage(CheckStage::Attend).first_mismatch;
  }
}

TEST(StageCheck, ReportsMergeAndSummarise) {
  Fixture f;
  StageCheckReport total = f.step(0);
  StageCheckReport bad = f.step(3, [&](StepCapture& cap) { cap.after.sel_copy_count[0] += 1; });
  total.merge(bad);
  total.merge(f.step(4));
  EXPECT_FALSE(total.passed);
  EXPECT_EQ(total.message, bad.message);
  EXPECT_NE(total.summary().find("diff FAILED (1 mismatches)"), std::string::npos) << total.summary();
}

TEST(BackendDebugAccess, ReadWriteAndErrors) {
  Fixture f;
  Backend& backend = RuntimeInternals::backend(*f.rt);
  const size_t rows = size_t(f.shape.batch) * f.shape.groups * f.shape.capacity;
  std::vector<int32_t> slot_unit(rows);
  EXPECT_EQ(backend.read_buffer("buf.slot_unit", slot_unit.data(), 4).code(), StatusCode::InvalidArgument);
  EXPECT_EQ(backend.read_buffer("host.k", slot_unit.data(), 4).code(), StatusCode::InvalidArgument);
  EXPECT_EQ(backend.read_buffer("buf.unit_slot", slot_unit.data(), 4).code(), StatusCode::InvalidArgument);
  EXPECT_EQ(backend.read_buffer("scratch.attn_o", slot_unit.data(), 4).code(), StatusCode::NotFound);
  ASSERT_TRUE(backend.read_buffer("buf.slot_unit", slot_unit.data(), rows * 4).is_ok());
  for (int32_t u : slot_unit) EXPECT_EQ(u, -1);  // prefill only: nothing resident yet
  // Prefill defers the representations; the build sets the lengths.
  std::vector<int32_t> length(f.shape.batch);
  ASSERT_TRUE(backend.read_buffer("req.length", length.data(), length.size() * 4).is_ok());
  EXPECT_EQ(length, (std::vector<int32_t>{0, 0}));
  for (RequestId id : f.ids) ASSERT_TRUE(f.rt->finish_prefill(id).is_ok());
  ASSERT_TRUE(backend.read_buffer("req.length", length.data(), length.size() * 4).is_ok());
  EXPECT_EQ(length, (std::vector<int32_t>{70, 45}));
  std::vector<int32_t> garbage(rows, 1234);
  ASSERT_TRUE(backend.write_buffer("buf.slot_unit", garbage.data(), rows * 4).is_ok());
  ASSERT_TRUE(backend.read_buffer("buf.slot_unit", slot_unit.data(), rows * 4).is_ok());
  EXPECT_EQ(slot_unit, garbage);
}

TEST(BackendDebugAccess, RequestResetReturnsRowsToTheirFill) {
  Fixture f;
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(f.step(i).passed);
  Backend& backend = RuntimeInternals::backend(*f.rt);
  uint32_t slot = 0;
  ASSERT_TRUE(RuntimeInternals::slot_of(*f.rt, f.ids[1], &slot).is_ok());
  ASSERT_TRUE(f.rt->release_request(f.ids[1]).is_ok());
  RequestId fresh = 0;
  ASSERT_TRUE(f.rt->create_request(&fresh).is_ok());
  uint32_t fresh_slot = 0;
  ASSERT_TRUE(RuntimeInternals::slot_of(*f.rt, fresh, &fresh_slot).is_ok());
  EXPECT_EQ(fresh_slot, slot);
  // Every documented per-slot row of the reused slot is back at its documented fill.
  const Artifact& artifact = RuntimeInternals::artifact(*f.rt);
  for (const DocumentedBuffer& doc : documented_buffers(artifact.config)) {
    if (doc.tier != Tier::Device) continue;
    std::vector<int64_t> dims;
    uint64_t bytes = 0;
    ASSERT_TRUE(evaluate_buffer_dims(artifact, artifact.buffers[artifact.find_buffer(doc.name)], f.shape.symbols(),
                                     &dims, &bytes).is_ok());
    std::vector<uint8_t> data(bytes);
    ASSERT_TRUE(backend.read_buffer(doc.name, data.data(), bytes).is_ok()) << doc.name;
    const size_t row = bytes / f.shape.batch;
    const uint8_t fill = (doc.flags & kBufferFlagFillMinusOne) ? 0xFF : 0x00;
    for (size_t i = 0; i < row; ++i) ASSERT_EQ(data[slot * row + i], fill) << doc.name << " byte " << i;
  }
  EXPECT_EQ(backend.request_step(slot), 0);
  EXPECT_EQ(backend.request_step(1 - slot), 2);
}

}  // namespace
}  // namespace hsa
