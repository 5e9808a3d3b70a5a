// The artifact loader: a valid artifact round-trips and every corruption is
// an InvalidArtifact status with a message, never a crash (this file also runs
// under ASan/UBSan as ctest 'loader_tests_under_asan_ubsan').
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <functional>

#include "artifact.h"
#include "expression.h"
#include "layer_shape.h"
#include "test_support.h"

namespace hsa {
namespace {
using namespace artifact;

std::vector<uint8_t> valid_artifact() { return test::build_artifact(test::make_config(test::ConfigSpec{})); }

Status load(const std::vector<uint8_t>& bytes) {
  Artifact a;
  return load_artifact(bytes.data(), bytes.size(), &a);
}

void expect_invalid(const std::vector<uint8_t>& bytes, const std::string& needle) {
  const Status status = load(bytes);
  EXPECT_EQ(status.code(), StatusCode::InvalidArtifact) << status.message();
  EXPECT_NE(status.message().find(needle), std::string::npos) << "message: " << status.message();
}

SectionEntry section_of(const std::vector<uint8_t>& image, SectionKind kind) {
  FileHeader h;
  std::memcpy(&h, image.data(), sizeof(h));
  for (uint32_t i = 0; i < h.section_count; ++i) {
    SectionEntry e;
    std::memcpy(&e, image.data() + h.section_table_offset + i * sizeof(e), sizeof(e));
    if (e.kind == uint32_t(kind)) return e;
  }
  ADD_FAILURE() << "no section " << uint32_t(kind);
  return SectionEntry{};
}

// Rewrites record `index` of a section and recomputes the checksum, so the
// structural checks (not the checksum) must catch the change.
template <typename Record>
std::vector<uint8_t> patched(std::vector<uint8_t> image, SectionKind kind, uint32_t index,
                             const std::function<void(Record&)>& change) {
  const SectionEntry e = section_of(image, kind);
  Record r;
  std::memcpy(&r, image.data() + e.offset + index * sizeof(Record), sizeof(r));
  change(r);
  std::memcpy(image.data() + e.offset + index * sizeof(Record), &r, sizeof(r));
  ArtifactWriter::seal(image);
  return image;
}

std::vector<uint8_t> patched_header(std::vector<uint8_t> image, const std::function<void(FileHeader&)>& change,
                                    bool reseal = true) {
  FileHeader h;
  std::memcpy(&h, image.data(), sizeof(h));
  change(h);
  std::memcpy(image.data(), &h, sizeof(h));
  if (reseal) ArtifactWriter::seal(image);
  return image;
}

TEST(ArtifactLoader, ValidArtifactRoundTrips) {
  test::ConfigSpec spec;
  spec.scope = SelectionScope::Request;
  const LayerConfigRecord config = test::make_config(spec);
  const std::vector<uint8_t> bytes = test::build_artifact(config);
  Artifact a;
  const Status status = load_artifact(bytes.data(), bytes.size(), &a);
  ASSERT_TRUE(status.is_ok()) << status.message();
  LayerConfigRecord expected = config;
  expected.algorithm = a.config.algorithm;  // the writer's string offset of "quest"
  EXPECT_EQ(std::memcmp(&a.config, &expected, sizeof(expected)), 0);
  EXPECT_STREQ(a.algorithm->name(), "quest");
  EXPECT_EQ(a.chip, "sm_90a");
  EXPECT_EQ(a.ptx_isa_version, 80u);
  EXPECT_EQ(a.kernel_abi_version, kKernelAbiVersion);
  ASSERT_EQ(a.kernels.size(), 1u);
  EXPECT_EQ(a.kernels[0].entry_symbol, "hsa_noop");
  EXPECT_NE(a.kernels[0].ptx.find(".entry hsa_noop"), std::string::npos);
  EXPECT_EQ(a.kernels[0].ptx.c_str()[a.kernels[0].ptx.size()], '\0');
  ASSERT_EQ(a.plans.size(), 3u);
  EXPECT_GE(a.find_plan("decode_step"), 0);
  const ArtifactLaunch& launch = a.plans[a.find_plan("append")].launches[0];
  ASSERT_EQ(launch.args.size(), 11u);  // io.q's descriptor (3 + 2 * 3), an i32, an i64
  EXPECT_EQ(a.buffers[launch.args[0].index].name, "io.q");
  ASSERT_EQ(launch.descriptors.size(), 1u);
  EXPECT_EQ(launch.descriptors[0].first_arg, 0u);
  EXPECT_EQ(launch.descriptors[0].rank, 3u);
  EXPECT_EQ(launch.args[10].value, 7);

  LayerShape shape;
  ASSERT_TRUE(LayerShape::create(a, 3, 100, 0, &shape).is_ok());
  EXPECT_TRUE(check_documented_shapes(a, shape).is_ok());
  std::vector<int64_t> dims;
  uint64_t bytes_k = 0;
  ASSERT_TRUE(evaluate_buffer_dims(a, a.buffers[a.find_buffer("buf.k")], shape.symbols(), &dims, &bytes_k).is_ok());
  // [B][S][C][Hu][P][D] = [3][1][8][2][4][16], bf16
  EXPECT_EQ(dims, (std::vector<int64_t>{3, 1, 8, 2, 4, 16}));
  EXPECT_EQ(bytes_k, 3u * 8 * 2 * 4 * 16 * 2);
  int64_t grid_x = 0;
  ASSERT_TRUE(evaluate_expression(a.code, launch.grid[0], shape.symbols(), "grid", &grid_x).is_ok());
  EXPECT_EQ(grid_x, 3);
}

TEST(ArtifactLoader, EveryTruncationIsRejected) {
  const std::vector<uint8_t> bytes = valid_artifact();
  for (size_t length = 0; length < bytes.size(); ++length) {
    std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + length);
    const Status status = load(prefix);
    ASSERT_EQ(status.code(), StatusCode::InvalidArtifact) << "prefix " << length;
    ASSERT_FALSE(status.message().empty());
  }
  // Truncated files whose header was rewritten to match (and resealed) still
  // fail on the section bounds.
  for (size_t length = sizeof(FileHeader) + 8; length < bytes.size(); length += 7) {
    std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + length);
    prefix = patched_header(prefix, [&](FileHeader& h) { h.total_size = length; });
    const Status status = load(prefix);
    ASSERT_EQ(status.code(), StatusCode::InvalidArtifact) << "resealed prefix " << length;
  }
  expect_invalid(patched_header(std::vector<uint8_t>(bytes.begin(), bytes.begin() + 200),
                                [](FileHeader& h) { h.total_size = 200; }),
                 "truncated");
}

TEST(ArtifactLoader, EveryFlippedByteIsRejected) {
  const std::vector<uint8_t> bytes = valid_artifact();
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::vector<uint8_t> corrupt = bytes;
    corrupt[i] ^= uint8_t(1u << (i % 8));
    const Status status = load(corrupt);
    ASSERT_EQ(status.code(), StatusCode::InvalidArtifact) << "byte " << i;
  }
  std::vector<uint8_t> corrupt = bytes;
  corrupt[bytes.size() / 2] ^= 0x10;
  expect_invalid(corrupt, "checksum mismatch");
}

TEST(ArtifactLoader, HeaderErrors) {
  const std::vector<uint8_t> bytes = valid_artifact();
  expect_invalid(patched_header(bytes, [](FileHeader& h) { h.magic[0] = 'X'; }), "wrong magic");
  expect_invalid(patched_header(bytes, [](FileHeader& h) { h.format_version = 1; }), "format version 1");
  expect_invalid(patched_header(bytes, [](FileHeader& h) { h.format_version = 2; }), "format version 2");
  expect_invalid(patched_header(bytes, [](FileHeader& h) { h.format_version = 3; }), "recompile the layer");
  expect_invalid(patched_header(bytes, [](FileHeader& h) { h.format_version = 4; }), "recompile the layer");
  expect_invalid(patched_header(bytes, [](FileHeader& h) { h.format_version = kFormatVersion + 1; }),
                 "a newer hsa-compile");
  expect_invalid(patched_header(bytes, [](FileHeader& h) { h.flags = 4; }), "header flags");
  expect_invalid(patched_header(bytes, [](FileHeader& h) { h.section_count = 3; }), "3 sections");
  expect_invalid(patched_header(bytes, [](FileHeader& h) { h.section_table_offset = 1u << 30; }), "section table");
  std::vector<uint8_t> longer = bytes;
  longer.push_back(0);
  expect_invalid(longer, "trailing bytes");
  expect_invalid({}, "truncated");
}

TEST(ArtifactLoader, SectionTableErrors) {
  const std::vector<uint8_t> bytes = valid_artifact();
  auto with_entry = [&](uint32_t index, const std::function<void(SectionEntry&)>& change) {
    std::vector<uint8_t> image = bytes;
    SectionEntry e;
    std::memcpy(&e, image.data() + sizeof(FileHeader) + index * sizeof(e), sizeof(e));
    change(e);
    std::memcpy(image.data() + sizeof(FileHeader) + index * sizeof(e), &e, sizeof(e));
    ArtifactWriter::seal(image);
    return image;
  };
  expect_invalid(with_entry(6, [](SectionEntry& e) { e.size += 1u << 20; }), "section 'kernels' ends at byte");
  expect_invalid(with_entry(6, [](SectionEntry& e) { e.offset = ~uint64_t(0) - 7; }), "truncated");
  expect_invalid(with_entry(5, [](SectionEntry& e) { e.record_size = 4; }), "record size");
  expect_invalid(with_entry(5, [](SectionEntry& e) { e.size -= 8; }), "not a multiple");
  expect_invalid(with_entry(4, [](SectionEntry& e) { e.offset += 4; }), "aligned");
  expect_invalid(with_entry(3, [](SectionEntry& e) { e.kind = 3; }), "appears twice");
  expect_invalid(with_entry(3, [](SectionEntry& e) { e.kind = 77; }), "unknown kind");
  expect_invalid(with_entry(2, [](SectionEntry& e) { e.size = 0; }), "exactly one record");
  expect_invalid(with_entry(0, [](SectionEntry& e) { e.offset = 0; }), "overlaps the header");
  const SectionEntry buffers = section_of(bytes, SectionKind::Buffers);
  expect_invalid(with_entry(4, [&](SectionEntry& e) { e.offset = buffers.offset; e.size = 16; }), "overlap");
}

TEST(ArtifactLoader, OutOfRangeReferences) {
  const std::vector<uint8_t> bytes = valid_artifact();
  expect_invalid(patched<BufferRecord>(bytes, SectionKind::Buffers, 2, [](BufferRecord& r) { r.name = 1u << 20; }),
                 "outside section 'strings'");
  expect_invalid(patched<BufferRecord>(bytes, SectionKind::Buffers, 2, [](BufferRecord& r) { r.dims[0].first = 1u << 20; }),
                 "exceed");
  expect_invalid(patched<BufferRecord>(bytes, SectionKind::Buffers, 2, [](BufferRecord& r) { r.rank = 9; }), "rank");
  expect_invalid(patched<BufferRecord>(bytes, SectionKind::Buffers, 2, [](BufferRecord& r) { r.element_type = kElementTypeCount; }),
                 "unknown element type");
  expect_invalid(patched<BufferRecord>(bytes, SectionKind::Buffers, 2, [](BufferRecord& r) { r.tier = 5; }),
                 "unknown tier");
  expect_invalid(patched<BufferRecord>(bytes, SectionKind::Buffers, 5, [](BufferRecord& r) { r.element_type = 2; }),
                 "does not match the layer's buffer table");
  expect_invalid(patched<KernelRecord>(bytes, SectionKind::Kernels, 0, [](KernelRecord& r) { r.ptx_size += 4096; }),
                 "exceed section 'blobs'");
  expect_invalid(patched<KernelRecord>(bytes, SectionKind::Kernels, 0,
                                       [](KernelRecord& r) { r.cubin_offset = ~uint64_t(0); r.cubin_size = 2; }),
                 "exceed section 'blobs'");
  expect_invalid(patched<KernelRecord>(bytes, SectionKind::Kernels, 0, [](KernelRecord& r) { r.ptx_size = 0; }),
                 "neither cubin nor PTX");
  expect_invalid(patched<PlanRecord>(bytes, SectionKind::Plans, 1, [](PlanRecord& r) { r.launch_count = 9; }),
                 "exceed the 3 in section 'launches'");
  expect_invalid(patched<LaunchRecord>(bytes, SectionKind::Launches, 0, [](LaunchRecord& r) { r.kernel = 1; }),
                 "names kernel 1 of 1");
  expect_invalid(patched<LaunchRecord>(bytes, SectionKind::Launches, 0, [](LaunchRecord& r) { r.arg_count = 99; }),
                 "section 'launch_args'");
  expect_invalid(patched<LaunchArgRecord>(bytes, SectionKind::LaunchArgs, 0, [](LaunchArgRecord& r) { r.index = 500; }),
                 "names buffer 500");
  expect_invalid(patched<LaunchArgRecord>(bytes, SectionKind::LaunchArgs, 9, [](LaunchArgRecord& r) { r.index = 99; }),
                 "unknown symbol");
  expect_invalid(patched<LaunchArgRecord>(bytes, SectionKind::LaunchArgs, 0, [](LaunchArgRecord& r) { r.kind = 9; }),
                 "unknown kind");
  expect_invalid(patched<LaunchArgRecord>(bytes, SectionKind::LaunchArgs, 0,
                                          [](LaunchArgRecord& r) { r.kind = uint32_t(ArgKind::ImmediateI32); r.value = int64_t(1) << 40; }),
                 "does not fit in i32");
  expect_invalid(patched<TargetRecord>(bytes, SectionKind::Target, 0, [](TargetRecord& r) { r.kernel_abi_version = 1; }),
                 "kernel ABI version 1");
  // The last byte of the strings section is its terminating NUL.
  const SectionEntry strings = section_of(bytes, SectionKind::Strings);
  std::vector<uint8_t> unterminated = bytes;
  unterminated[strings.offset + strings.size - 1] = 'x';
  ArtifactWriter::seal(unterminated);
  expect_invalid(unterminated, "does not end with a NUL");
}

TEST(ArtifactLoader, MalformedExpressions) {
  const std::vector<uint8_t> bytes = valid_artifact();
  const SectionEntry code = section_of(bytes, SectionKind::ExprCode);
  const uint32_t count = uint32_t(code.size / sizeof(ExprInstr));
  auto with_instr = [&](uint32_t index, ExprInstr instr) {
    return patched<ExprInstr>(bytes, SectionKind::ExprCode, index, [&](ExprInstr& r) { r = instr; });
  };
  // Instruction 0 is the single PushSym of the first buffer's first dim.
  expect_invalid(with_instr(0, ExprInstr{99, 0, 0}), "unknown opcode 99");
  expect_invalid(with_instr(0, ExprInstr{uint32_t(ExprOp::PushSym), 99, 0}), "unknown symbol 99");
  expect_invalid(with_instr(0, ExprInstr{uint32_t(ExprOp::Add), 0, 0}), "stack underflow");
  expect_invalid(patched<BufferRecord>(bytes, SectionKind::Buffers, 0, [](BufferRecord& r) { r.dims[0].count = 0; }),
                 "empty");
  expect_invalid(patched<BufferRecord>(bytes, SectionKind::Buffers, 0, [](BufferRecord& r) { r.dims[0].count = 2; }),
                 "leaves 2 values");
  expect_invalid(patched<BufferRecord>(bytes, SectionKind::Buffers, 0,
                                       [&](BufferRecord& r) { r.dims[0] = ExprRef{count - 1, 2}; }),
                 "exceed");
  // A per-slot buffer must lead with 'batch'.
  // A per-slot buffer must lead with 'batch': instruction 8 is host.page_of's
  // first dim (host.k and host.v come first with 4 dims each).
  expect_invalid(with_instr(8, ExprInstr{uint32_t(ExprOp::PushConst), 0, 5}), "symbol 'batch'");
}

TEST(ArtifactLoader, InconsistentConfig) {
  auto config_error = [](const std::function<void(LayerConfigRecord&)>& change, const std::string& needle) {
    LayerConfigRecord c = test::make_config(test::ConfigSpec{});
    change(c);
    expect_invalid(test::build_artifact(c), needle);
  };
  config_error([](LayerConfigRecord& c) { c.num_q_heads = 5; }, "not a multiple of num_kv_heads");
  config_error([](LayerConfigRecord& c) { c.capacity_units = 2; }, "capacity_units");
  config_error([](LayerConfigRecord& c) { c.budget_units = 0; }, "budget_units");
  config_error([](LayerConfigRecord& c) { c.window_units = 0; }, "window_units");
  config_error([](LayerConfigRecord& c) { c.sink_units = 4; }, "exceeds budget_units");
  config_error([](LayerConfigRecord& c) { c.head_dim = 0; }, "head_dim");
  config_error([](LayerConfigRecord& c) { c.kv_dtype = 7; }, "kv_dtype");
  config_error([](LayerConfigRecord& c) { c.softmax_scale = 0.0f; }, "softmax_scale");
  config_error([](LayerConfigRecord& c) { c.page_table_format = 4; }, "page_table_format");
  config_error([](LayerConfigRecord& c) { c.softmax_scale = -1.0f; }, "softmax_scale");
  config_error([](LayerConfigRecord& c) { c.softmax_scale = NAN; }, "softmax_scale");
  config_error([](LayerConfigRecord& c) { c.flags = 8; }, "unknown flags");
  config_error([](LayerConfigRecord& c) { c.page_table_format = uint32_t(PageTableFormat::FlashAttnBlockTable); },
               "scope 'request'");
}

// The algorithm is a package name plus a parameter block: an unknown name or a
// block that does not match the package is refused, naming what is wrong.
TEST(ArtifactLoader, AlgorithmPackageAndParameters) {
  const LayerConfigRecord config = test::make_config(test::ConfigSpec{});
  auto build = [&](const TestAlgorithm& a) { return test::build_artifact(config, "sm_90a", a); };
  const Param max = Param::string("combine", "max");
  expect_invalid(build({"frobnicate", {}}), "unknown algorithm 'frobnicate': this runtime has the packages quest");
  expect_invalid(build({"", {}}), "unknown algorithm ''");
  expect_invalid(build({"quest", {}}), "algorithm 'quest': parameter 'combine' is missing");
  expect_invalid(build({"quest", {Param::string("combine", "median")}}), "'median' is not one of: max, sum, mean_query");
  expect_invalid(build({"quest", {Param::number("combine", 1)}}), "parameter 'combine' must be a string");
  expect_invalid(build({"quest", {max, Param::number("depth", 3)}}), "unknown parameter 'depth' (it takes: combine)");
  expect_invalid(build({"quest", {max, max}}), "parameter 'combine' is given twice");
  expect_invalid(build({"streaming_llm", {max}}), "unknown parameter 'combine' (it takes: none)");
  // The package's layer rules: StreamingLLM selects exactly the forced units.
  expect_invalid(build(TestAlgorithm::streaming_llm()), "budget_units 4 must equal sink_units + window_units = 2");
  // A parameter record of an unknown kind, and a string value outside the strings.
  std::vector<uint8_t> bytes = build(TestAlgorithm::quest("sum"));
  Artifact a;
  ASSERT_TRUE(load_artifact(bytes.data(), bytes.size(), &a).is_ok());
  EXPECT_STREQ(a.algorithm->name(), "quest");
  EXPECT_EQ(a.params.text("combine"), "sum");
  FileHeader header;
  std::memcpy(&header, bytes.data(), sizeof(header));
  SectionEntry entry;
  std::memcpy(&entry, bytes.data() + header.section_table_offset + (uint32_t(SectionKind::AlgorithmParams) - 1) * sizeof(entry),
              sizeof(entry));
  ASSERT_EQ(entry.kind, uint32_t(SectionKind::AlgorithmParams));
  ASSERT_EQ(entry.size, sizeof(AlgorithmParamRecord));
  AlgorithmParamRecord record;
  std::memcpy(&record, bytes.data() + entry.offset, sizeof(record));
  std::vector<uint8_t> kind = bytes;
  AlgorithmParamRecord bad_kind = record;
  bad_kind.kind = 7;
  std::memcpy(kind.data() + entry.offset, &bad_kind, sizeof(bad_kind));
  ArtifactWriter::seal(kind);
  expect_invalid(kind, "algorithm parameter 0 'combine': unknown kind 7");
  std::vector<uint8_t> offset = bytes;
  AlgorithmParamRecord bad_offset = record;
  bad_offset.value = int64_t(1) << 40;
  std::memcpy(offset.data() + entry.offset, &bad_offset, sizeof(bad_offset));
  ArtifactWriter::seal(offset);
  expect_invalid(offset, "string offset 1099511627776 is out of range");
}

TEST(ArtifactLoader, MissingDocumentedBufferAndDuplicates) {
  ArtifactWriter w;
  w.set_layer_config(test::make_config(test::ConfigSpec{}));
  w.set_algorithm(test::ConfigSpec{}.test_algorithm().name, test::ConfigSpec{}.test_algorithm().params);
  w.set_target("sm_90a", 80);
  w.add_buffer("buf.k", Tier::Device, ElementType::BF16, BufferScope::PerBatchSlot,
               {Expr::sym(Symbol::Batch), Expr::sym(Symbol::Groups), Expr::sym(Symbol::Capacity),
                Expr::sym(Symbol::HeadsPerUnit), Expr::sym(Symbol::PageSize), Expr::sym(Symbol::HeadDim)});
  expect_invalid(w.finish(), "buffer table lacks 'host.k'");
  w.add_buffer("buf.k", Tier::Device, ElementType::BF16, BufferScope::Global, {Expr::constant(1)});
  expect_invalid(w.finish(), "defined twice");
  ArtifactWriter host;
  host.set_layer_config(test::make_config(test::ConfigSpec{}));
  host.set_algorithm(test::ConfigSpec{}.test_algorithm().name, test::ConfigSpec{}.test_algorithm().params);
  host.set_target("sm_90a", 80);
  host.add_buffer("host.extra", Tier::Host, ElementType::U8, BufferScope::Global, {Expr::constant(1)});
  expect_invalid(host.finish(), "host-tier buffer the runtime does not provide");
}

// Buffer 2 of the documented table is host.page_of (fill -1), buffer 5 buf.k (fill 0).
TEST(ArtifactLoader, BufferFlags) {
  const std::vector<uint8_t> bytes = valid_artifact();
  Artifact a;
  ASSERT_TRUE(load_artifact(bytes.data(), bytes.size(), &a).is_ok());
  for (const DocumentedBuffer& doc : documented_buffers(a.config, a.algorithm->buffers(a.config, a.params)))
    EXPECT_EQ(a.buffers[a.find_buffer(doc.name)].flags, doc.flags) << doc.name;
  EXPECT_TRUE(a.buffers[a.find_buffer("buf.slot_unit")].fills_minus_one());
  EXPECT_TRUE(a.buffers[a.find_buffer("sel.units")].fills_minus_one());
  EXPECT_FALSE(a.buffers[a.find_buffer("buf.k")].fills_minus_one());
  const uint32_t buf_k = uint32_t(a.find_buffer("buf.k"));
  expect_invalid(patched<BufferRecord>(bytes, SectionKind::Buffers, buf_k, [](BufferRecord& r) { r.flags = 2; }),
                 "unknown flag bits 0x00000002");
  expect_invalid(patched<BufferRecord>(bytes, SectionKind::Buffers, buf_k, [](BufferRecord& r) { r.flags = 0x80000001u; }),
                 "unknown flag bits 0x80000000");
  expect_invalid(patched<BufferRecord>(bytes, SectionKind::Buffers, buf_k,
                                       [](BufferRecord& r) { r.flags = kBufferFlagFillMinusOne; }),
                 "initial contents are -1, the buffer table says 0");
  ASSERT_EQ(a.buffers[2].name, "host.page_of");
  expect_invalid(patched<BufferRecord>(bytes, SectionKind::Buffers, 2, [](BufferRecord& r) { r.flags = 0; }),
                 "initial contents are 0, the buffer table says -1");
  // Free-form buffers take either fill.
  ArtifactWriter w;
  w.set_layer_config(test::make_config(test::ConfigSpec{}));
  w.set_algorithm(test::ConfigSpec{}.test_algorithm().name, test::ConfigSpec{}.test_algorithm().params);
  w.set_target("sm_90a", 80);
  w.add_documented_buffers(test::layer_algorithm_buffers(w));
  w.add_buffer("scratch.attn_done", Tier::Device, ElementType::I32, BufferScope::PerBatchSlot,
               {Expr::sym(Symbol::Batch), Expr::sym(Symbol::QHeads)}, kBufferFlagFillMinusOne);
  w.add_buffer("scratch.attn_lse", Tier::Device, ElementType::F32, BufferScope::PerBatchSlot,
               {Expr::sym(Symbol::Batch), Expr::sym(Symbol::QHeads), Expr::constant(4)});
  const std::vector<uint8_t> free_form = w.finish();
  Artifact b;
  ASSERT_TRUE(load_artifact(free_form.data(), free_form.size(), &b).is_ok());
  EXPECT_TRUE(b.buffers[b.find_buffer("scratch.attn_done")].fills_minus_one());
  EXPECT_FALSE(b.buffers[b.find_buffer("scratch.attn_lse")].fills_minus_one());
}

// An artifact whose one launch passes `args` (on top of the documented buffers).
std::vector<uint8_t> artifact_with_args(const std::vector<Arg>& args) {
  ArtifactWriter w;
  w.set_layer_config(test::make_config(test::ConfigSpec{}));
  w.set_algorithm(test::ConfigSpec{}.test_algorithm().name, test::ConfigSpec{}.test_algorithm().params);
  w.set_target("sm_90a", 80);
  w.add_documented_buffers(test::layer_algorithm_buffers(w));
  const uint32_t kernel = w.add_kernel("k", "k", {}, noop_kernel_ptx("sm_90a", "k", args), Expr::constant(0));
  w.add_plan("decode_step", {LaunchSpec{kernel,
                                        {Expr::constant(1), Expr::constant(1), Expr::constant(1)},
                                        {Expr::constant(32), Expr::constant(1), Expr::constant(1)},
                                        Expr::constant(0),
                                        args}});
  return w.finish();
}

TEST(ArtifactLoader, ExprI64Arguments) {
  const Expr units = Expr::sym(Symbol::Batch) * Expr::sym(Symbol::MaxUnits);
  const std::vector<uint8_t> bytes = artifact_with_args({Arg::immediate_i32(3), Arg::expr_i64(units)});
  Artifact a;
  ASSERT_TRUE(load_artifact(bytes.data(), bytes.size(), &a).is_ok());
  const LaunchArgRecord& arg = a.plans[0].launches[0].args[1];
  ASSERT_EQ(arg.kind, uint32_t(ArgKind::ExprI64));
  ASSERT_EQ(arg.value, 3);  // PushSym, PushSym, Mul
  SymbolValues symbols{};
  symbols[uint32_t(Symbol::Batch)] = 3;
  symbols[uint32_t(Symbol::MaxUnits)] = 1000;
  int64_t v = 0;
  ASSERT_TRUE(evaluate_expression(a.code, ExprRef{arg.index, uint32_t(arg.value)}, symbols, "arg", &v).is_ok());
  EXPECT_EQ(v, 3000);

  // Argument 1 is the ExprI64: every malformed reference is an error naming it.
  const SectionEntry code = section_of(bytes, SectionKind::ExprCode);
  const uint32_t instructions = uint32_t(code.size / sizeof(ExprInstr));
  auto with_arg = [&](const std::function<void(LaunchArgRecord&)>& change) {
    return patched<LaunchArgRecord>(bytes, SectionKind::LaunchArgs, 1, change);
  };
  expect_invalid(with_arg([](LaunchArgRecord& r) { r.value = 0; }), "(ExprI64) has instruction count 0");
  expect_invalid(with_arg([](LaunchArgRecord& r) { r.value = -5; }), "(ExprI64) has instruction count -5");
  expect_invalid(with_arg([](LaunchArgRecord& r) { r.value = int64_t(1) << 33; }), "must be in [1, 2^32)");
  expect_invalid(with_arg([&](LaunchArgRecord& r) { r.index = instructions - 1; }), "exceed");
  expect_invalid(with_arg([](LaunchArgRecord& r) { r.index = 0xfffffff0u; r.value = 0x20; }), "exceed");
  expect_invalid(with_arg([](LaunchArgRecord& r) { r.value = 2; }), "leaves 2 values");
  expect_invalid(with_arg([](LaunchArgRecord& r) { r.index += 2; r.value = 1; }), "stack underflow");
  expect_invalid(with_arg([](LaunchArgRecord& r) { r.kind = 6; }), "unknown kind 6");
  // The message names the launch argument.
  expect_invalid(with_arg([](LaunchArgRecord& r) { r.value = 0; }), "plan 0 'decode_step' launch 0 argument 1");
}

TEST(ArtifactLoader, BadChipNames) {
  for (const char* chip : {"", "sm_", "sm_9", "gfx90a", "sm_90b", "sm_90a1", "SM_90"}) {
    const std::vector<uint8_t> bytes = test::build_artifact(test::make_config(test::ConfigSpec{}), chip);
    expect_invalid(bytes, "target chip");
  }
}

TEST(ArtifactTarget, ChoosesImagesForTheDevice) {
  Artifact a;
  const std::vector<uint8_t> bytes = valid_artifact();  // sm_90a, PTX only
  ASSERT_TRUE(load_artifact(bytes.data(), bytes.size(), &a).is_ok());
  ImageChoice choice{};
  EXPECT_TRUE(choose_kernel_images(a, 9, 0, &choice).is_ok());
  EXPECT_TRUE(choice.use_cubin);  // chip matches; this kernel has only PTX, which also fits
  const Status older = choose_kernel_images(a, 8, 0, &choice);
  EXPECT_EQ(older.code(), StatusCode::Unsupported);
  EXPECT_NE(older.message().find("artifact targets sm_90a but the device is sm_80"), std::string::npos) << older.message();
  // Arch-specific PTX (sm_90a) does not run on a newer chip either.
  EXPECT_EQ(choose_kernel_images(a, 10, 0, &choice).code(), StatusCode::Unsupported);
  // Portable PTX (sm_80) JIT-compiles on newer devices.
  Artifact portable;
  const std::vector<uint8_t> sm80 = test::build_artifact(test::make_config(test::ConfigSpec{}), "sm_80");
  ASSERT_TRUE(load_artifact(sm80.data(), sm80.size(), &portable).is_ok());
  EXPECT_TRUE(choose_kernel_images(portable, 9, 0, &choice).is_ok());
  EXPECT_FALSE(choice.use_cubin);
  EXPECT_EQ(choose_kernel_images(portable, 7, 5, &choice).code(), StatusCode::Unsupported);
}

TEST(Expressions, EvaluationErrors) {
  SymbolValues symbols{};
  symbols[uint32_t(Symbol::Batch)] = 4;
  auto eval = [&](const Expr& e, int64_t* out) {
    return evaluate_expression(e.code, ExprRef{0, uint32_t(e.code.size())}, symbols, "test", out);
  };
  int64_t v = 0;
  ASSERT_TRUE(eval(Expr::ceil_div(Expr::constant(10), Expr::sym(Symbol::Batch)), &v).is_ok());
  EXPECT_EQ(v, 3);
  ASSERT_TRUE(eval(Expr::max(Expr::constant(2), Expr::min(Expr::constant(9), Expr::constant(5))) - Expr::constant(1), &v).is_ok());
  EXPECT_EQ(v, 4);
  EXPECT_NE(eval(Expr::ceil_div(Expr::constant(10), Expr::constant(0)), &v).message().find("ceil_div by 0"), std::string::npos);
  EXPECT_NE(eval(Expr::ceil_div(Expr::constant(-1), Expr::constant(2)), &v).message().find("negative"), std::string::npos);
  EXPECT_NE(eval(Expr::constant(INT64_MAX) + Expr::constant(1), &v).message().find("overflow"), std::string::npos);
  EXPECT_NE(eval(Expr::constant(INT64_MAX / 2) * Expr::constant(3), &v).message().find("overflow"), std::string::npos);
  Expr deep = Expr::constant(1);
  for (int i = 0; i < 20; ++i) deep.code.push_back(ExprInstr{uint32_t(ExprOp::PushConst), 0, 1});
  EXPECT_NE(eval(deep, &v).message().find("stack deeper"), std::string::npos);
}

}  // namespace
}  // namespace hsa

namespace hsa {
namespace {

// Paths that are not artifact files: statuses naming the path, never an
// exception (a directory used to throw std::ios_base::failure out of the
// loader) and never a hang (opening a FIFO used to wait for a writer).
TEST(ArtifactFiles, PathsThatAreNotArtifactFilesAreRefused) {
  const std::string dir = ::testing::TempDir() + "hsa_artifact_files_" + std::to_string(::getpid());
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  Artifact a;
  Status s = load_artifact_file(dir, &a);
  EXPECT_EQ(s.code(), StatusCode::InvalidArgument) << s.message();
  EXPECT_NE(s.message().find("'" + dir + "' is a directory"), std::string::npos) << s.message();

  const std::string fifo = dir + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  s = load_artifact_file(fifo, &a);
  EXPECT_EQ(s.code(), StatusCode::InvalidArgument) << s.message();
  EXPECT_NE(s.message().find("'" + fifo + "' is not a regular file"), std::string::npos) << s.message();

  s = load_artifact_file("/dev/null", &a);
  EXPECT_EQ(s.code(), StatusCode::InvalidArgument) << s.message();
  EXPECT_NE(s.message().find("'/dev/null' is not a regular file"), std::string::npos) << s.message();

  s = load_artifact_file(dir + "/missing.hsa", &a);
  EXPECT_EQ(s.code(), StatusCode::NotFound) << s.message();
  EXPECT_NE(s.message().find(dir + "/missing.hsa"), std::string::npos) << s.message();
  s = load_artifact_file(dir + "/fifo/below.hsa", &a);  // a path through a non-directory
  EXPECT_EQ(s.code(), StatusCode::NotFound) << s.message();

  const std::string empty = dir + "/empty.hsa";
  { std::ofstream(empty, std::ios::binary); }
  s = load_artifact_file(empty, &a);
  EXPECT_EQ(s.code(), StatusCode::InvalidArtifact) << s.message();
  EXPECT_NE(s.message().find(empty + ": artifact truncated"), std::string::npos) << s.message();

  // Unreadable (root reads everything, so only as another user).
  const std::string locked = dir + "/locked.hsa";
  { std::ofstream(locked, std::ios::binary) << "x"; }
  ASSERT_EQ(::chmod(locked.c_str(), 0), 0);
  if (::geteuid() != 0) {
    s = load_artifact_file(locked, &a);
    EXPECT_EQ(s.code(), StatusCode::InvalidArgument) << s.message();
    EXPECT_NE(s.message().find("cannot open artifact file '" + locked + "'"), std::string::npos) << s.message();
  }

  // A valid file still loads.
  const std::vector<uint8_t> bytes = valid_artifact();
  const std::string good = dir + "/good.hsa";
  { std::ofstream(good, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size())); }
  s = load_artifact_file(good, &a);
  EXPECT_TRUE(s.is_ok()) << s.message();

  for (const std::string& file : {fifo, empty, locked, good}) ::unlink(file.c_str());
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace hsa

namespace hsa {
namespace {

// The PTX entry parameter lists the loader reads, in the forms LLVM's NVPTX
// backend prints (".param .u64 .ptr .align 1 name_param_0", ...).
TEST(PtxEntryParameters, ReadsTheSizesOfTheEntrysParameters) {
  const std::string ptx =
      "//\n// Generated by LLVM NVPTX Back-End\n//\n.version 8.0\n.target sm_90a\n.address_size 64\n\n"
      "\t// .globl\tscore\n.visible .entry score_tail(\n\t.param .u32 score_tail_param_0\n)\n{\n\tret;\n}\n"
      ".visible .entry score(\n"
      "\t.param .u64 .ptr .align 1 score_param_0,\n"
      "\t.param .u64 .ptr .global .align 16 score_param_1,\n"
      "\t.param .u64 score_param_2,\n"
      "\t.param .u32 score_param_3, // a comment\n"
      "\t.param .b32 score_param_4,\n"
      "\t.param .s64 score_param_5,\n"
      "\t.param .align 8 .b8 score_param_6[24]\n"
      ")\n.reqntid 128, 1, 1\n{\n\tret;\n}\n"
      ".visible .entry empty()\n{\n\tret;\n}\n";
  std::vector<uint32_t> sizes;
  std::string why;
  ASSERT_TRUE(ptx_entry_parameter_sizes(ptx, "score", &sizes, &why)) << why;
  EXPECT_EQ(sizes, (std::vector<uint32_t>{8, 8, 8, 4, 4, 8, 24}));
  ASSERT_TRUE(ptx_entry_parameter_sizes(ptx, "score_tail", &sizes, &why)) << why;
  EXPECT_EQ(sizes, (std::vector<uint32_t>{4}));
  ASSERT_TRUE(ptx_entry_parameter_sizes(ptx, "empty", &sizes, &why)) << why;
  EXPECT_TRUE(sizes.empty());
  EXPECT_FALSE(ptx_entry_parameter_sizes(ptx, "scor", &sizes, &why));  // a prefix is not the entry
  EXPECT_NE(why.find("no '.entry scor(...)'"), std::string::npos) << why;
  EXPECT_FALSE(ptx_entry_parameter_sizes(".entry k(\n.param .u64 a,\n", "k", &sizes, &why));
  EXPECT_NE(why.find("not closed"), std::string::npos) << why;
  EXPECT_FALSE(ptx_entry_parameter_sizes(".entry k(.param .pred p)", "k", &sizes, &why));
  EXPECT_NE(why.find("parameter 0 of PTX entry 'k' has no type of a known size"), std::string::npos) << why;
  EXPECT_FALSE(ptx_entry_parameter_sizes(".entry k(.param .u64 a,, .param .u64 b)", "k", &sizes, &why));
  EXPECT_FALSE(ptx_entry_parameter_sizes(".entry k(.reg .u64 a)", "k", &sizes, &why));
}

// The loader holds each launch to its kernel's PTX entry: count and sizes.
TEST(PtxEntryParameters, LaunchesMustMatchTheirKernelsEntry) {
  auto with_ptx = [](const std::vector<Arg>& args, const std::string& ptx) {
    ArtifactWriter w;
    w.set_layer_config(test::make_config(test::ConfigSpec{}));
    w.set_algorithm(test::ConfigSpec{}.test_algorithm().name, test::ConfigSpec{}.test_algorithm().params);
    w.set_target("sm_90a", 80);
    w.add_documented_buffers(test::layer_algorithm_buffers(w));
    const uint32_t k = w.add_kernel("k", "k", {}, ptx, Expr::constant(0));
    w.add_plan("decode_step", {LaunchSpec{k,
                                          {Expr::constant(1), Expr::constant(1), Expr::constant(1)},
                                          {Expr::constant(32), Expr::constant(1), Expr::constant(1)},
                                          Expr::constant(0),
                                          args}});
    return w.finish();
  };
  const std::vector<Arg> args = {Arg::symbol_i32(Symbol::Batch), Arg::expr_i64(Expr::sym(Symbol::MaxUnits))};
  Artifact a;
  std::vector<uint8_t> bytes = with_ptx(args, noop_kernel_ptx("sm_90a", "k", args));
  EXPECT_TRUE(load_artifact(bytes.data(), bytes.size(), &a).is_ok());
  expect_invalid(with_ptx(args, noop_kernel_ptx("sm_90a", "k", {args[0]})),
                 "plan 0 'decode_step' launch 0 (kernel 'k', PTX entry 'k'): the kernel takes 1 parameters but the "
                 "launch passes 2 arguments");
  expect_invalid(with_ptx(args, noop_kernel_ptx("sm_90a", "k", {args[1], args[1]})),
                 "parameter 0 has 8 bytes but argument 0 is a 4-byte value");
  expect_invalid(with_ptx(args, noop_kernel_ptx("sm_90a", "other", args)), "kernel 0 'k': its PTX has no '.entry k(...)'");
  // A bare pointer is not a kernel ABI v2 buffer argument.
  expect_invalid(with_ptx({Arg::buffer(0), Arg::immediate_i64(0)}, ".entry k(.param .u64 a, .param .u64 b)"),
                 "the allocated pointer is not followed by the aligned pointer");
}

}  // namespace
}  // namespace hsa
