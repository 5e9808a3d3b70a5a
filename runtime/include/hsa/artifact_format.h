// The hsa artifact binary format, version 3 (documented in docs/ARTIFACT.md).
//
// This header is shared by the compiler (which writes artifacts and is built
// with -fno-exceptions) and the runtime (which verifies and reads them). It is
// deliberately dependency-free C++17: plain POD records, constants and an
// inline CRC-32. All multi-byte fields are little-endian; every record has a
// fixed size (checked by static_assert) so a section is an array of records.
#ifndef HSA_ARTIFACT_FORMAT_H
#define HSA_ARTIFACT_FORMAT_H

#include <cstddef>
#include <cstdint>

namespace hsa {
namespace artifact {

// "HSAART" + NUL + format generation byte: a file that is not an artifact fails
// on the first 8 bytes, and a text tool stops printing at the NUL.
constexpr uint8_t kMagic[8] = {'H', 'S', 'A', 'A', 'R', 'T', 0, 1};
// Version 3: the algorithm is a package name plus a parameter section
// (AlgorithmParams), so a new algorithm needs no format change. Version 2 had
// an Algorithm enum and per-algorithm fields in LayerConfigRecord; version 1
// had neither ArgKind::ExprI64 nor BufferRecord::flags.
// 4: the contract's io.lse, store_kv writing the appended token into the host
// pool, the layer name in LayerConfigRecord (3 had none of them).
// 5: KvDtype::Fp8Latent (FlashMLA's fp8 latent rows) and Symbol::KeyRow, the
// stored key row's last dim (4 sized K rows by HeadDim).
constexpr uint32_t kFormatVersion = 5;
// Kernel ABI v2: one launch argument is exactly one kernel parameter, in
// order: a u64 (buffer address), an i32 or an i64. A memref parameter of rank r
// (MLIR's default convert-gpu-to-nvvm) is written by the compiler as 3 + 2r
// arguments: BufferPointer (allocated), BufferPointer (aligned), ImmediateI64 0
// (offset), r ExprI64 sizes, r ExprI64 strides. (v1 listed bare pointers only.)
constexpr uint32_t kKernelAbiVersion = 2;
constexpr uint32_t kMaxRank = 8;
constexpr uint32_t kMaxExprStack = 16;
constexpr uint32_t kMaxChipLength = 31;

// Offsets of the byte range covered by the checksum: everything after the
// checksum field (so total_size and the section table are covered too).
constexpr size_t kChecksumCoverageBegin = 16;

struct FileHeader {
  uint8_t magic[8];
  uint32_t format_version;
  uint32_t checksum;  // crc32(bytes[kChecksumCoverageBegin, total_size))
  uint64_t total_size;  // exact file size in bytes
  uint32_t header_size;  // sizeof(FileHeader)
  uint32_t section_count;
  uint64_t section_table_offset;  // array of section_count SectionEntry
  uint64_t flags;  // reserved, must be 0
};
static_assert(sizeof(FileHeader) == 48, "FileHeader layout");

enum class SectionKind : uint32_t {
  Strings = 1,      // NUL-terminated UTF-8 strings; offset 0 must be ""
  Blobs = 2,        // raw bytes (cubin, PTX text), referenced by offset/size
  LayerConfig = 3,  // exactly one LayerConfigRecord
  Target = 4,       // exactly one TargetRecord
  ExprCode = 5,     // ExprInstr[]
  Buffers = 6,      // BufferRecord[]
  Kernels = 7,      // KernelRecord[]
  Plans = 8,        // PlanRecord[]
  Launches = 9,     // LaunchRecord[]
  LaunchArgs = 10,  // LaunchArgRecord[]
  AlgorithmParams = 11,  // AlgorithmParamRecord[]: the algorithm package's parameters
};
constexpr uint32_t kSectionKindCount = 11;  // every kind appears exactly once

struct SectionEntry {
  uint32_t kind;  // SectionKind
  uint32_t record_size;  // sizeof(record), 1 for Strings/Blobs
  uint64_t offset;  // from the start of the file, 8-byte aligned
  uint64_t size;  // bytes; a multiple of record_size
};
static_assert(sizeof(SectionEntry) == 24, "SectionEntry layout");

// The KV cache's stored format. BF16 / F16: rows of HeadDim (and ValueDim)
// elements; queries and outputs in the same dtype. Fp8Latent: FlashMLA's fp8
// latent row, for latent (MLA) layers only: per token `latent` e4m3 bytes,
// then one f32 scale per kFp8LatentTile latent elements, then `rope` bf16
// (512 + 16 + 128 = 656 bytes for DeepSeek's 512 + 64), stored as KeyRow u8;
// element i < latent is e4m3[i] * scale[i / 128]; queries and outputs bf16.
enum class KvDtype : uint32_t { BF16 = 0, F16 = 1, Fp8Latent = 2 };
constexpr uint32_t kFp8LatentTile = 128;
// Bytes of one Fp8Latent row; latent_dim a multiple of kFp8LatentTile.
constexpr uint32_t fp8_latent_row_bytes(uint32_t latent_dim, uint32_t rope_dim) {
  return latent_dim + latent_dim / kFp8LatentTile * 4 + rope_dim * 2;
}
enum class SelectionScope : uint32_t { Request = 0, KvHead = 1 };
enum class PageTableFormat : uint32_t {
  Native = 0, FlashAttnBlockTable = 1, FlashInferCsr = 2, TokenIndices = 3
};
constexpr uint32_t kKvDtypeCount = 3, kSelectionScopeCount = 2, kPageTableFormatCount = 4;

// LayerConfigRecord::flags
constexpr uint32_t kLayerFlagValueIsKeyPrefix = 1u << 0;  // MLA: V = first Dv dims of K
constexpr uint32_t kLayerKnownFlags = kLayerFlagValueIsKeyPrefix;

struct LayerConfigRecord {
  uint32_t num_q_heads;  // Hq
  uint32_t num_kv_heads;  // Hkv
  uint32_t head_dim;  // D
  uint32_t value_dim;  // Dv
  uint32_t page_size;  // P (tokens per unit)
  uint32_t kv_dtype;  // KvDtype
  uint32_t scope;  // SelectionScope
  uint32_t algorithm;  // string offset: the algorithm package's name ("quest")
  uint32_t page_table_format;  // PageTableFormat
  uint32_t budget_units;  // K
  uint32_t capacity_units;  // C >= K
  uint32_t sink_units;  // forced first units
  uint32_t window_units;  // forced last units, >= 1
  float softmax_scale;  // > 0 (the compiler writes 1/sqrt(D) unless configured)
  uint32_t flags;  // kLayerFlag*
  uint32_t name;  // string offset: the layer's name ("llama3_8b_attn"); 0 ("") when unnamed
};
static_assert(sizeof(LayerConfigRecord) == 64, "LayerConfigRecord layout");

// One parameter of the layer's algorithm package, by name: what the attribute
// says in the IR (`#hsa.quest<combine = max>` gives combine = "max"). The
// runtime's package of that name validates names, kinds and ranges.
enum class ParamKind : uint32_t { Integer = 0, String = 1 };
constexpr uint32_t kParamKindCount = 2;

struct AlgorithmParamRecord {
  uint32_t name;  // string offset; unique within the section
  uint32_t kind;  // ParamKind
  int64_t value;  // Integer: the value; String: a string offset
};
static_assert(sizeof(AlgorithmParamRecord) == 16, "AlgorithmParamRecord layout");

struct TargetRecord {
  uint32_t chip;  // string offset, e.g. "sm_90a"
  uint32_t ptx_isa_version;  // major*10 + minor, e.g. 80 for PTX ISA 8.0
  uint32_t kernel_abi_version;  // kKernelAbiVersion
  uint32_t reserved;  // must be 0
};
static_assert(sizeof(TargetRecord) == 16, "TargetRecord layout");

// Runtime symbols that size expressions may read. The runtime fixes their
// values when it loads the artifact (B, N and pool pages come from its options).
enum class Symbol : uint32_t {
  Batch = 0,           // B: batch slots
  MaxUnits = 1,        // N: ceil(max_context / P)
  MaxTokens = 2,       // N * P
  PoolPages = 3,       // pages in the host pool
  QHeads = 4,          // Hq
  KvHeads = 5,         // Hkv
  HeadDim = 6,         // D
  ValueDim = 7,        // Dv
  PageSize = 8,        // P
  Groups = 9,          // S: Hkv (kv_head scope) or 1 (request scope)
  HeadsPerUnit = 10,   // Hu = Hkv / S
  Budget = 11,         // K
  Capacity = 12,       // C
  Sinks = 13,
  Window = 14,
  ElementBytes = 15,   // bytes of a stored K/V element: 2 (bf16, f16), 1 (Fp8Latent's u8)
  KeyRow = 16,         // elements of a stored key row: HeadDim, or fp8_latent_row_bytes (Fp8Latent)
};
constexpr uint32_t kSymbolCount = 17;

// Postfix bytecode over signed 64-bit integers. Every expression must leave
// exactly one value; arithmetic overflow and ceil_div by a non-positive value
// are evaluation errors.
enum class ExprOp : uint32_t {
  PushConst = 1,  // push value
  PushSym = 2,    // push symbols[symbol]
  Add = 3, Sub = 4, Mul = 5,
  CeilDiv = 6,    // a b -> ceil(a / b), a >= 0, b > 0
  Min = 7, Max = 8,
};

struct ExprInstr {
  uint32_t op;  // ExprOp
  uint32_t symbol;  // Symbol for PushSym, 0 otherwise
  int64_t value;  // for PushConst, 0 otherwise
};
static_assert(sizeof(ExprInstr) == 16, "ExprInstr layout");

// An expression is a contiguous run of instructions in the ExprCode section.
struct ExprRef {
  uint32_t first;
  uint32_t count;  // >= 1
};
static_assert(sizeof(ExprRef) == 8, "ExprRef layout");

enum class Tier : uint32_t { Host = 0, Device = 1 };
// F8E4M3FN: OCP e4m3 "FN" (no infinities, 0x7F / 0xFF NaN), as MLIR's
// f8E4M3FN and PTX's e4m3 (DSA's indexer keys, docs/algorithms/dsa.md).
enum class ElementType : uint32_t { BF16 = 0, F16 = 1, F32 = 2, I32 = 3, I64 = 4, U8 = 5, F8E4M3FN = 6 };
enum class BufferScope : uint32_t { PerBatchSlot = 0, Global = 1 };  // PerBatchSlot: dims[0] is B
constexpr uint32_t kTierCount = 2, kElementTypeCount = 7, kBufferScopeCount = 2;

inline const char* element_type_name(ElementType type) {
  switch (type) {
    case ElementType::BF16: return "bf16";
    case ElementType::F16: return "f16";
    case ElementType::F32: return "f32";
    case ElementType::I32: return "i32";
    case ElementType::I64: return "i64";
    case ElementType::U8: return "u8";
    case ElementType::F8E4M3FN: return "f8E4M3FN";
  }
  return "unknown";
}

inline uint32_t element_type_bytes(ElementType type) {
  switch (type) {
    case ElementType::BF16: case ElementType::F16: return 2;
    case ElementType::F32: case ElementType::I32: return 4;
    case ElementType::I64: return 8;
    case ElementType::U8: case ElementType::F8E4M3FN: return 1;
  }
  return 0;
}

// BufferRecord::flags
// The buffer starts with every byte 0xFF (i32 -1) instead of 0, and its
// per-slot rows return to that on request create/release. Documented buffers
// must carry the fill docs/BUFFERS.md gives them (docs/ARTIFACT.md lists it).
constexpr uint32_t kBufferFlagFillMinusOne = 1u << 0;
constexpr uint32_t kBufferKnownFlags = kBufferFlagFillMinusOne;

struct BufferRecord {
  uint32_t name;  // string offset, e.g. "buf.k"; unique
  uint32_t tier;  // Tier
  uint32_t element_type;  // ElementType
  uint32_t scope;  // BufferScope
  uint32_t rank;  // 1..kMaxRank
  uint32_t flags;  // kBufferFlag*; unknown bits are an error
  ExprRef dims[kMaxRank];  // outermost first; entries >= rank are {0, 0}
};
static_assert(sizeof(BufferRecord) == 88, "BufferRecord layout");

struct KernelRecord {
  uint32_t name;  // string offset; unique
  uint32_t entry_symbol;  // string offset: the kernel's symbol in the module
  uint64_t cubin_offset;  // into Blobs; cubin/fatbin for the target chip
  uint64_t cubin_size;  // 0: no cubin
  uint64_t ptx_offset;  // into Blobs; PTX text without a trailing NUL
  uint64_t ptx_size;  // 0: no PTX (cubin_size or ptx_size must be > 0)
  uint32_t static_shared_bytes;  // informational (from ptxas)
  uint32_t max_registers;  // informational; 0 = unknown
  uint32_t required_block[3];  // reqntid; 0 = any
  uint32_t reserved;  // must be 0
  ExprRef max_dynamic_shared_bytes;  // upper bound over its launches
};
static_assert(sizeof(KernelRecord) == 72, "KernelRecord layout");

struct PlanRecord {
  uint32_t name;  // string offset: "prefill", "decode_step", "append", ...; unique
  uint32_t first_launch;  // into Launches
  uint32_t launch_count;
  uint32_t reserved;  // must be 0
};
static_assert(sizeof(PlanRecord) == 16, "PlanRecord layout");

struct LaunchRecord {
  uint32_t kernel;  // index into Kernels
  uint32_t first_arg;  // into LaunchArgs
  uint32_t arg_count;
  uint32_t reserved;  // must be 0
  ExprRef grid[3];
  ExprRef block[3];
  ExprRef dynamic_shared_bytes;
};
static_assert(sizeof(LaunchRecord) == 72, "LaunchRecord layout");

enum class ArgKind : uint32_t {
  BufferPointer = 0,  // index: buffer; passes its u64 device address
  SymbolI32 = 1,      // index: Symbol; passed as int32
  SymbolI64 = 2,      // index: Symbol; passed as int64
  ImmediateI32 = 3,   // value (must fit int32)
  ImmediateI64 = 4,   // value
  ExprI64 = 5,        // index: first instruction, value: instruction count of an
                      // expression in ExprCode; evaluated when a runtime prepares
                      // the plan (B, N, pool pages known), passed as int64
};
constexpr uint32_t kArgKindCount = 6;

struct LaunchArgRecord {
  uint32_t kind;  // ArgKind
  uint32_t index;  // buffer or symbol index; ExprI64: first instruction; 0 for immediates
  int64_t value;  // immediate value; ExprI64: instruction count; 0 otherwise
};
static_assert(sizeof(LaunchArgRecord) == 16, "LaunchArgRecord layout");

// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, init and final xor
// 0xFFFFFFFF: the zlib/PNG crc32). Bitwise: artifacts are small and this keeps
// the header table-free; `crc` chains calls over pieces.
inline uint32_t crc32(const uint8_t* data, size_t size, uint32_t crc = 0) {
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) {
    crc ^= data[i];
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

}  // namespace artifact
}  // namespace hsa

#endif  // HSA_ARTIFACT_FORMAT_H
