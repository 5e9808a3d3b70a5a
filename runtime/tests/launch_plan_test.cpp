// Launch evaluation (kernel ABI v2): the parameter cells the CUDA backend
// hands to cuLaunchKernel, memref descriptors with ExprI64 sizes and strides,
// grid/block/shared checks. Runs without a GPU: the cells are plain bytes.
#include <gtest/gtest.h>

#include <cstring>

#include "hsa/runtime.hpp"
#include "launch_plan.h"
#include "test_support.h"

namespace hsa {
namespace {
using namespace artifact;

struct Built {
  std::vector<uint8_t> bytes;
  Artifact artifact;
  LayerShape shape;
};

// One launch with `args` (and the given geometry) in plan "decode_step".
Built build(const std::vector<Arg>& args, const Expr& block_x = Expr::constant(128),
            const Expr& shared = Expr::constant(0), uint32_t required_block_x = 0) {
  ArtifactWriter w;
  w.set_layer_config(test::make_config(test::ConfigSpec{}));
  w.set_algorithm(test::ConfigSpec{}.test_algorithm().name, test::ConfigSpec{}.test_algorithm().params);
  w.set_target("sm_90a", 80);
  w.add_documented_buffers(test::layer_algorithm_buffers(w));
  const uint32_t kernel = w.add_kernel("k", "k", {}, noop_kernel_ptx("sm_90a", "k", args), Expr::constant(1024));
  w.add_plan("decode_step", {LaunchSpec{kernel,
                                        {Expr::sym(Symbol::Batch), Expr::sym(Symbol::Groups), Expr::constant(1)},
                                        {block_x, Expr::constant(1), Expr::constant(1)},
                                        shared,
                                        args}});
  Built b;
  b.bytes = w.finish();
  if (required_block_x) {  // patch the kernel record's reqntid
    FileHeader h;
    std::memcpy(&h, b.bytes.data(), sizeof(h));
    for (uint32_t i = 0; i < h.section_count; ++i) {
      SectionEntry e;
      std::memcpy(&e, b.bytes.data() + h.section_table_offset + i * sizeof(e), sizeof(e));
      if (e.kind != uint32_t(SectionKind::Kernels)) continue;
      KernelRecord r;
      std::memcpy(&r, b.bytes.data() + e.offset, sizeof(r));
      r.required_block[0] = required_block_x;
      std::memcpy(b.bytes.data() + e.offset, &r, sizeof(r));
    }
    ArtifactWriter::seal(b.bytes);
  }
  EXPECT_TRUE(load_artifact(b.bytes.data(), b.bytes.size(), &b.artifact).is_ok());
  EXPECT_TRUE(LayerShape::create(b.artifact, 3, 100, 0, &b.shape).is_ok());
  return b;
}

Status evaluate(const Built& b, std::vector<EvaluatedLaunch>* out) {
  return evaluate_plan(b.artifact, 0, b.shape.symbols(), [](uint32_t buffer) { return 0x10000ull * (buffer + 1); }, out);
}

int64_t cell64(const EvaluatedLaunch& l, size_t i) {
  int64_t v;
  std::memcpy(&v, &l.cells[i], 8);
  return v;
}

int32_t cell32(const EvaluatedLaunch& l, size_t i) {
  int32_t v;
  std::memcpy(&v, &l.cells[i], 4);  // the low half: what a 4-byte parameter reads (little-endian)
  return v;
}

TEST(LaunchPlan, MemrefDescriptorOfBufK) {
  ArtifactWriter probe;  // buffer indices and dims as the documented table adds them
  probe.set_layer_config(test::make_config(test::ConfigSpec{}));
  probe.set_algorithm(test::ConfigSpec{}.test_algorithm().name, test::ConfigSpec{}.test_algorithm().params);
  probe.add_documented_buffers(test::layer_algorithm_buffers(probe));
  const uint32_t buf_k = probe.buffer_index("buf.k");
  std::vector<Arg> args = probe.memref_args(buf_k);
  ASSERT_EQ(args.size(), 3u + 2 * 6);  // rank 6: [B][S][C][Hu][P][D]
  args.push_back(Arg::symbol_i32(Symbol::MaxUnits));
  args.push_back(Arg::immediate_i32(-7));
  args.push_back(Arg::symbol_i64(Symbol::PoolPages));
  Built b = build(args);
  std::vector<EvaluatedLaunch> launches;
  ASSERT_TRUE(evaluate(b, &launches).is_ok());
  ASSERT_EQ(launches.size(), 1u);
  const EvaluatedLaunch& l = launches[0];
  ASSERT_EQ(l.cells.size(), args.size());
  const uint64_t address = 0x10000ull * (buf_k + 1);
  EXPECT_EQ(l.cells[0], address);  // allocated
  EXPECT_EQ(l.cells[1], address);  // aligned
  EXPECT_EQ(cell64(l, 2), 0);      // offset
  // ConfigSpec: Hq 4, Hkv 2, D 16, P 4, K 4, C 8, kv_head scope (S 2, Hu 1); B 3.
  const int64_t sizes[6] = {3, 2, 8, 1, 4, 16};
  const int64_t strides[6] = {2 * 8 * 1 * 4 * 16, 8 * 1 * 4 * 16, 1 * 4 * 16, 4 * 16, 16, 1};
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(cell64(l, 3 + i), sizes[i]) << "size " << i;
    EXPECT_EQ(cell64(l, 9 + i), strides[i]) << "stride " << i;
  }
  for (size_t i = 0; i < 15; ++i) EXPECT_EQ(l.sizes[i], 8u) << i;
  EXPECT_EQ(cell32(l, 15), int32_t(b.shape.max_units));  // 100 tokens / P 4 = 25
  EXPECT_EQ(cell32(l, 15), 25);
  EXPECT_EQ(l.sizes[15], 4u);
  EXPECT_EQ(cell32(l, 16), -7);
  EXPECT_EQ(l.sizes[16], 4u);
  EXPECT_EQ(cell64(l, 17), int64_t(b.shape.pool_pages));
  EXPECT_EQ(l.grid[0], 3u);
  EXPECT_EQ(l.grid[1], 2u);
  EXPECT_EQ(l.block[0], 128u);
}

// A descriptor describes its buffer exactly (ABI v2, what the compiler
// writes): a view of another rank is refused at load, one whose sizes or
// strides do not evaluate to the buffer's dims and row-major strides when the
// runtime evaluates the plan (the values depend on B, N and the pool).
TEST(LaunchPlan, DescriptorsMustDescribeTheirBuffer) {
  ArtifactWriter probe;
  probe.set_layer_config(test::make_config(test::ConfigSpec{}));
  probe.set_algorithm(test::ConfigSpec{}.test_algorithm().name, test::ConfigSpec{}.test_algorithm().params);
  probe.add_documented_buffers(test::layer_algorithm_buffers(probe));
  const uint32_t buf_k = probe.buffer_index("buf.k");
  const Expr B = Expr::sym(Symbol::Batch), S = Expr::sym(Symbol::Groups), C = Expr::sym(Symbol::Capacity),
             Hu = Expr::sym(Symbol::HeadsPerUnit), P = Expr::sym(Symbol::PageSize), D = Expr::sym(Symbol::HeadDim);
  auto load_of = [](const std::vector<Arg>& args) {
    ArtifactWriter w;
    w.set_layer_config(test::make_config(test::ConfigSpec{}));
    w.set_algorithm(test::ConfigSpec{}.test_algorithm().name, test::ConfigSpec{}.test_algorithm().params);
    w.set_target("sm_90a", 80);
    w.add_documented_buffers(test::layer_algorithm_buffers(w));
    const uint32_t k = w.add_kernel("k", "k", {}, noop_kernel_ptx("sm_90a", "k", args), Expr::constant(0));
    w.add_plan("decode_step", {LaunchSpec{k,
                                          {Expr::constant(1), Expr::constant(1), Expr::constant(1)},
                                          {Expr::constant(32), Expr::constant(1), Expr::constant(1)},
                                          Expr::constant(0),
                                          args}});
    const std::vector<uint8_t> bytes = w.finish();
    Artifact a;
    return load_artifact(bytes.data(), bytes.size(), &a);
  };
  // buf.k viewed as [B*S*C][Hu*P*D]: rank 2 for a rank-6 buffer.
  Status s = load_of(Arg::memref(buf_k, {B * S * C, Hu * P * D}));
  EXPECT_EQ(s.code(), StatusCode::InvalidArtifact);
  EXPECT_NE(s.message().find("memref descriptor of buffer 'buf.k'): buffer 'buf.k' has rank 6, so arguments 3..14 "
                             "must be its 6 sizes and 6 strides"),
            std::string::npos)
      << s.message();

  // Same rank, other sizes: [B][S][C][Hu][P*D][1] has the right element count
  // and strides of its own, but not buf.k's dims.
  Built reshaped = build(Arg::memref(buf_k, {B, S, C, Hu, P * D, Expr::constant(1)}));
  std::vector<EvaluatedLaunch> launches;
  s = evaluate(reshaped, &launches);
  EXPECT_EQ(s.code(), StatusCode::InvalidArtifact);
  EXPECT_NE(s.message().find("plan 'decode_step' launch 0 ('k') argument 7: size 4 of the memref descriptor of "
                             "'buf.k' is 64 but the buffer's dim 4 is 4"),
            std::string::npos)
      << s.message();
  // Right sizes, a wrong stride (the size expressions are buf.k's own dims).
  std::vector<Arg> args = probe.memref_args(buf_k);
  args[3 + 6 + 2] = Arg::expr_i64(Hu * P * D + Expr::constant(1));  // stride 2 of [B][S][C][Hu][P][D]
  s = evaluate(build(args), &launches);
  EXPECT_NE(s.message().find("argument 11: stride 2 of the memref descriptor of 'buf.k' is 65 but the buffer's "
                             "row-major stride 2 is 64"),
            std::string::npos)
      << s.message();
  // Different expressions of the same values are fine (the compiler writes
  // static dims as constants): D as 16.
  args = probe.memref_args(buf_k);
  args[3 + 5] = Arg::expr_i64(Expr::constant(16));
  EXPECT_TRUE(evaluate(build(args), &launches).is_ok());
}

TEST(LaunchPlan, EvaluationErrorsNameTheLaunch) {
  std::vector<EvaluatedLaunch> launches;
  Status s = evaluate(build({Arg::expr_i64(Expr::ceil_div(Expr::constant(5), Expr::constant(0)))}), &launches);
  EXPECT_EQ(s.code(), StatusCode::InvalidArtifact);
  EXPECT_NE(s.message().find("plan 'decode_step' launch 0 ('k') argument 0"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("ceil_div by 0"), std::string::npos) << s.message();
  s = evaluate(build({}, Expr::constant(2048)), &launches);
  EXPECT_NE(s.message().find("out of range"), std::string::npos) << s.message();
  s = evaluate(build({}, Expr::constant(128), Expr::constant(4096)), &launches);
  EXPECT_NE(s.message().find("exceed the kernel's declared maximum 1024"), std::string::npos) << s.message();
  s = evaluate(build({}, Expr::constant(128), Expr::constant(0), 256), &launches);
  EXPECT_NE(s.message().find("requires 256"), std::string::npos) << s.message();
  EXPECT_TRUE(evaluate(build({}, Expr::constant(256), Expr::constant(0), 256), &launches).is_ok());
}

TEST(LaunchPlan, RuntimeLoadEvaluatesEveryPlanOnEveryBackend) {
  // An ExprI64 that cannot be evaluated for this instance fails the load on
  // the CPU backend as it would on the GPU.
  Built b = build({Arg::expr_i64(Expr::sym(Symbol::MaxTokens) - Expr::constant(1000))});  // fine
  RuntimeOptions options;
  options.backend = BackendKind::Cpu;
  options.max_context_tokens = 100;
  std::unique_ptr<Runtime> rt;
  ASSERT_TRUE(Runtime::create(options, &rt).is_ok());
  Status s = rt->load_artifact(b.bytes.data(), b.bytes.size());
  EXPECT_TRUE(s.is_ok()) << s.message();
  Built bad = build({Arg::expr_i64(Expr::ceil_div(Expr::sym(Symbol::Batch), Expr::sym(Symbol::Sinks) - Expr::constant(1)))});
  ASSERT_TRUE(Runtime::create(options, &rt).is_ok());
  s = rt->load_artifact(bad.bytes.data(), bad.bytes.size());
  EXPECT_EQ(s.code(), StatusCode::InvalidArtifact);
  EXPECT_NE(s.message().find("argument 0"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace hsa
