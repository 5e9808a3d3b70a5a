// The trust model (docs/ARTIFACT.md): the CRC catches accidents, not edits.
// Artifacts edited on purpose and resealed (CRC recomputed): a launch bound
// to another buffer, a launch naming another kernel, a changed size
// expression. The structural checks refuse those they can see (descriptor
// form, descriptor sizes vs the buffer's dims, the PTX entry's parameter
// list); a pinned SHA-256 refuses every one, including edits that keep the
// artifact consistent.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cctype>
#include <cstring>
#include <fstream>
#include <functional>

#include "hsa/hsattn.h"
#include "hsa/runtime.hpp"
#include "hsa/sha256.h"
#include "test_artifact.h"
#include "test_support.h"

namespace hsa {
namespace {
using namespace artifact;

// Hq 4, Hkv 2, D = Dv 16, P 4, K 4, C 8: io.q and io.o have the same dims.
LayerConfigRecord trust_config() {
  LayerConfigRecord c = default_test_config();
  c.num_q_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = c.value_dim = 16;
  c.page_size = 4;
  c.budget_units = 4;
  c.capacity_units = 8;
  return c;
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

template <typename Record>
Record record_at(const std::vector<uint8_t>& image, SectionKind kind, uint32_t index) {
  Record r;
  std::memcpy(&r, image.data() + section_of(image, kind).offset + index * sizeof(Record), sizeof(r));
  return r;
}

// Rewrites record `index` of a section and reseals: the CRC no longer helps.
template <typename Record>
std::vector<uint8_t> tampered(std::vector<uint8_t> image, SectionKind kind, uint32_t index,
                              const std::function<void(Record&)>& edit) {
  Record r = record_at<Record>(image, kind, index);
  edit(r);
  std::memcpy(image.data() + section_of(image, kind).offset + index * sizeof(Record), &r, sizeof(r));
  ArtifactWriter::seal(image);
  return image;
}

struct Original {
  std::vector<uint8_t> bytes = make_test_artifact(trust_config());
  std::string digest = sha256_hex(bytes.data(), bytes.size());
  Artifact parsed;
  Original() { EXPECT_TRUE(load_artifact(bytes.data(), bytes.size(), &parsed).is_ok()); }
  // The first LaunchArgRecord of plan `plan`'s launch (one launch per plan).
  uint32_t first_arg(const char* plan) const {
    const uint32_t p = uint32_t(parsed.find_plan(plan));
    const PlanRecord pr = record_at<PlanRecord>(bytes, SectionKind::Plans, p);
    return record_at<LaunchRecord>(bytes, SectionKind::Launches, pr.first_launch).first_arg;
  }
  uint32_t launch_of(const char* plan) const {
    return record_at<PlanRecord>(bytes, SectionKind::Plans, uint32_t(parsed.find_plan(plan))).first_launch;
  }
  uint32_t buffer(const char* name) const { return uint32_t(parsed.find_buffer(name)); }
};

Status load_into_runtime(const std::vector<uint8_t>& bytes, const std::string& digest = "") {
  RuntimeOptions options;
  options.backend = BackendKind::Cpu;
  options.max_context_tokens = 64;
  std::unique_ptr<Runtime> rt;
  EXPECT_TRUE(Runtime::create(options, &rt).is_ok());
  return digest.empty() ? rt->load_artifact(bytes.data(), bytes.size())
                        : rt->load_artifact(bytes.data(), bytes.size(), digest);
}

void expect_refused(const Status& s, StatusCode code, const std::string& needle) {
  EXPECT_EQ(s.code(), code) << s.message();
  EXPECT_NE(s.message().find(needle), std::string::npos) << "expected '" << needle << "' in: " << s.message();
}

// Every tampered artifact: its CRC is valid, and the pinned digest refuses it.
void expect_pinned_digest_refuses(const Original& o, const std::vector<uint8_t>& edited) {
  const Status s = load_into_runtime(edited, o.digest);
  expect_refused(s, StatusCode::InvalidArtifact, "is not the pinned " + o.digest);
  EXPECT_NE(s.message().find("artifact SHA-256 " + sha256_hex(edited.data(), edited.size())), std::string::npos)
      << s.message();
}

TEST(TrustModel, TheOriginalLoadsPinnedAndUnpinned) {
  const Original o;
  EXPECT_TRUE(load_into_runtime(o.bytes).is_ok());
  EXPECT_TRUE(load_into_runtime(o.bytes, o.digest).is_ok());
  std::string upper = o.digest;
  for (char& c : upper) c = char(std::toupper(c));
  EXPECT_TRUE(load_into_runtime(o.bytes, upper).is_ok());
  expect_refused(load_into_runtime(o.bytes, "12345"), StatusCode::InvalidArgument, "must be 64 hex digits");
  RuntimeOptions options;
  options.backend = BackendKind::Cpu;
  std::unique_ptr<Runtime> rt;
  ASSERT_TRUE(Runtime::create(options, &rt).is_ok());
  expect_refused(rt->load_artifact(o.bytes.data(), o.bytes.size(), std::string()), StatusCode::InvalidArgument,
                 "empty expected SHA-256");
}

// A launch bound to another buffer: the aligned pointer moved (the
// descriptor names two buffers), the whole descriptor moved to a buffer of
// another rank, or of the same rank and other dims.
TEST(TrustModel, BindingToAnotherBufferIsRefused) {
  const Original o;
  const uint32_t arg = o.first_arg("decode_step");  // io.q's descriptor: [B][Hq][D]
  ASSERT_EQ(o.parsed.buffers[record_at<LaunchArgRecord>(o.bytes, SectionKind::LaunchArgs, arg).index].name, "io.q");

  std::vector<uint8_t> edited = tampered<LaunchArgRecord>(o.bytes, SectionKind::LaunchArgs, arg + 1,
                                                          [&](LaunchArgRecord& r) { r.index = o.buffer("io.o"); });
  expect_refused(load_into_runtime(edited), StatusCode::InvalidArtifact,
                 "the aligned pointer (argument 1) names buffer 'io.o', the allocated pointer 'io.q'");
  expect_pinned_digest_refuses(o, edited);

  auto both = [&](const char* name) {
    std::vector<uint8_t> image = tampered<LaunchArgRecord>(o.bytes, SectionKind::LaunchArgs, arg,
                                                           [&](LaunchArgRecord& r) { r.index = o.buffer(name); });
    return tampered<LaunchArgRecord>(image, SectionKind::LaunchArgs, arg + 1,
                                     [&](LaunchArgRecord& r) { r.index = o.buffer(name); });
  };
  edited = both("repr.kmin");  // rank 4: its descriptor would need 8 ExprI64, io.q's has 6
  expect_refused(load_into_runtime(edited), StatusCode::InvalidArtifact,
                 "buffer 'repr.kmin' has rank 4, so arguments 3..10 must be its 4 sizes and 4 strides");
  expect_pinned_digest_refuses(o, edited);

  edited = both("io.new_k");  // rank 3, [B][Hkv][D]: the sizes say Hq
  expect_refused(load_into_runtime(edited), StatusCode::InvalidArtifact,
                 "argument 4: size 1 of the memref descriptor of 'io.new_k' is 4 but the buffer's dim 1 is 2");
  expect_pinned_digest_refuses(o, edited);

  // io.o has io.q's dims here (D = Dv): a consistent edit only the digest sees.
  edited = both("io.o");
  EXPECT_TRUE(load_into_runtime(edited).is_ok());
  expect_pinned_digest_refuses(o, edited);
}

// A launch naming another kernel: the append kernel takes another parameter
// list than the decode_step launch passes.
TEST(TrustModel, LaunchNamingAnotherKernelIsRefused) {
  const Original o;
  const uint32_t launch = o.launch_of("decode_step");
  const uint32_t append_kernel = record_at<LaunchRecord>(o.bytes, SectionKind::Launches, o.launch_of("append")).kernel;
  const std::vector<uint8_t> edited = tampered<LaunchRecord>(o.bytes, SectionKind::Launches, launch,
                                                             [&](LaunchRecord& r) { r.kernel = append_kernel; });
  expect_refused(load_into_runtime(edited), StatusCode::InvalidArtifact,
                 "(kernel 'noop_append', PTX entry 'hsa_test_noop_append'): the kernel takes");
  expect_pinned_digest_refuses(o, edited);

  // The entry symbol edited to a kernel the PTX does not have.
  const std::vector<uint8_t> renamed = tampered<KernelRecord>(o.bytes, SectionKind::Kernels, append_kernel,
                                                              [&](KernelRecord& r) { r.entry_symbol = r.name; });
  expect_refused(load_into_runtime(renamed), StatusCode::InvalidArtifact,
                 "its PTX has no '.entry noop_append(...)'");
  expect_pinned_digest_refuses(o, renamed);
}

// A size expression changed: a descriptor size of io.q now reads Hkv for Hq,
// and (consistently) a grid dimension: the first fails when the runtime
// evaluates the plan, the second only the digest refuses.
TEST(TrustModel, ChangedSizeExpressionIsRefused) {
  const Original o;
  const uint32_t arg = o.first_arg("decode_step") + 4;  // io.q size 1: PushSym q_heads
  const LaunchArgRecord size = record_at<LaunchArgRecord>(o.bytes, SectionKind::LaunchArgs, arg);
  ASSERT_EQ(size.kind, uint32_t(ArgKind::ExprI64));
  ASSERT_EQ(size.value, 1);
  ASSERT_EQ(record_at<ExprInstr>(o.bytes, SectionKind::ExprCode, size.index).symbol, uint32_t(Symbol::QHeads));
  std::vector<uint8_t> edited = tampered<ExprInstr>(o.bytes, SectionKind::ExprCode, size.index,
                                                    [](ExprInstr& i) { i.symbol = uint32_t(Symbol::KvHeads); });
  Artifact a;
  EXPECT_TRUE(load_artifact(edited.data(), edited.size(), &a).is_ok());  // well-formed on its own
  expect_refused(load_into_runtime(edited), StatusCode::InvalidArtifact,
                 "argument 4: size 1 of the memref descriptor of 'io.q' is 2 but the buffer's dim 1 is 4");
  expect_pinned_digest_refuses(o, edited);

  const LaunchRecord l = record_at<LaunchRecord>(o.bytes, SectionKind::Launches, o.launch_of("decode_step"));
  edited = tampered<ExprInstr>(o.bytes, SectionKind::ExprCode, l.grid[0].first,
                               [](ExprInstr& i) { i.symbol = uint32_t(Symbol::Budget); });
  EXPECT_TRUE(load_into_runtime(edited).is_ok());  // any grid is legal
  expect_pinned_digest_refuses(o, edited);
}

TEST(TrustModel, CApiPinsFilesAndBytes) {
  const Original o;
  const std::string path = ::testing::TempDir() + "hsa_trust_" + std::to_string(::getpid()) + ".hsa";
  {
    std::ofstream file(path, std::ios::binary);
    file.write(reinterpret_cast<const char*>(o.bytes.data()), std::streamsize(o.bytes.size()));
  }
  hsattn_runtime_options options;
  hsattn_runtime_options_init(&options);
  options.backend = HSATTN_BACKEND_CPU;
  auto with_runtime = [&](const std::function<hsattn_status_t(hsattn_runtime*)>& body) {
    hsattn_runtime* rt = nullptr;
    EXPECT_EQ(hsattn_runtime_create(&options, &rt), HSATTN_STATUS_OK);
    const hsattn_status_t s = body(rt);
    hsattn_runtime_destroy(rt);
    return s;
  };
  EXPECT_EQ(with_runtime([&](hsattn_runtime* rt) {
              return hsattn_runtime_load_artifact_file_checked(rt, path.c_str(), o.digest.c_str());
            }),
            HSATTN_STATUS_OK);
  std::string wrong = o.digest;
  wrong[0] = wrong[0] == '0' ? '1' : '0';
  EXPECT_EQ(with_runtime([&](hsattn_runtime* rt) {
              return hsattn_runtime_load_artifact_file_checked(rt, path.c_str(), wrong.c_str());
            }),
            HSATTN_STATUS_INVALID_ARTIFACT);
  EXPECT_NE(std::string(hsattn_last_error_message()).find(o.digest + " is not the pinned " + wrong), std::string::npos)
      << hsattn_last_error_message();
  EXPECT_NE(std::string(hsattn_last_error_message()).find(path + ": "), std::string::npos) << hsattn_last_error_message();
  EXPECT_EQ(with_runtime([&](hsattn_runtime* rt) {
              return hsattn_runtime_load_artifact_file_checked(rt, path.c_str(), nullptr);
            }),
            HSATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(with_runtime([&](hsattn_runtime* rt) {
              return hsattn_runtime_load_artifact_checked(rt, o.bytes.data(), o.bytes.size(), o.digest.c_str());
            }),
            HSATTN_STATUS_OK);
  EXPECT_EQ(with_runtime([&](hsattn_runtime* rt) {
              return hsattn_runtime_load_artifact_checked(rt, o.bytes.data(), o.bytes.size(), "not a digest");
            }),
            HSATTN_STATUS_INVALID_ARGUMENT);
  ::unlink(path.c_str());
}

}  // namespace
}  // namespace hsa
