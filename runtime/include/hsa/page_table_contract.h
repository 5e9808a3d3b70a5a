// The page-table formats' exported tables (docs/ENGINE.md), written once for
// the compiler (the format attributes' getExportedTables and the page_table
// kernel), the runtime (which hands them to engines) and the CPU reference
// and stage checker (which compute and compare them).
//
// Every table is i32 on the device. The resident buffer is viewed as blocks
// of one unit: block (b * S + g) * C + slot of buf.k/buf.v [B][S][C][Hu][P][.].
// Row (b, g) selected k = min(K, ceil(L[b] / P)) units, ascending.
//
// Dependency-free C++17, like layer_contract.h.
#ifndef HSA_PAGE_TABLE_CONTRACT_H
#define HSA_PAGE_TABLE_CONTRACT_H

#include <cstddef>

#include "hsa/artifact_format.h"

namespace hsa {
namespace page_table_contract {

// A table's shape in the layer's symbols.
enum class Dims {
  Batch,            // [B]
  BatchPlusOne,     // [B + 1]
  BatchBudget,      // [B][K]
  BatchGroupsTokens // [B][S][K * P]
};

struct Table {
  const char* name;
  Dims dims;
  const char* notes;
};

// #hsa.flash_attn_block_table (scope request): FlashAttention's paged KV.
constexpr Table kFlashAttention[] = {
    {"fa.block_table", Dims::BatchBudget, "block of the i-th selected unit, -1 past the selection"},
    {"fa.seqlens", Dims::Batch, "selected tokens: (k - 1) * P + tokens of the last selected unit, 0 when k = 0"},
};
// #hsa.flashinfer_csr (scope request): FlashInfer's paged decode.
constexpr Table kFlashInfer[] = {
    {"fi.indptr", Dims::BatchPlusOne, "packed CSR offsets: the sum of the earlier rows' k"},
    {"fi.indices", Dims::BatchBudget, "blocks of the selected units, packed at indptr[b] (flat in [B][K])"},
    {"fi.last_page_len", Dims::Batch, "tokens of the row's last selected unit, 0 when k = 0"},
};
// #hsa.token_indices: FlashMLA's sparse decode.
constexpr Table kTokenIndices[] = {
    {"tok.indices", Dims::BatchGroupsTokens,
     "block * P + p for token p of the i-th selected unit, -1 past the selection or the context"},
};

// Entries of a table of `dims` for batch B, groups S, budget K, page size P.
constexpr size_t entries(Dims dims, size_t B, size_t S, size_t K, size_t P) {
  return dims == Dims::Batch          ? B
         : dims == Dims::BatchPlusOne ? B + 1
         : dims == Dims::BatchBudget  ? B * K
                                      : B * S * K * P;
}

struct Tables {
  const Table* begin_;
  size_t size_;
  const Table* begin() const { return begin_; }
  const Table* end() const { return begin_ + size_; }
  size_t size() const { return size_; }
};

// The tables of `format` in the order its kernel writes them (none: native).
constexpr Tables tables(artifact::PageTableFormat format) {
  switch (format) {
    case artifact::PageTableFormat::FlashAttnBlockTable:
      return {kFlashAttention, sizeof(kFlashAttention) / sizeof(Table)};
    case artifact::PageTableFormat::FlashInferCsr:
      return {kFlashInfer, sizeof(kFlashInfer) / sizeof(Table)};
    case artifact::PageTableFormat::TokenIndices:
      return {kTokenIndices, sizeof(kTokenIndices) / sizeof(Table)};
    default:
      return {nullptr, 0};
  }
}

}  // namespace page_table_contract
}  // namespace hsa

#endif  // HSA_PAGE_TABLE_CONTRACT_H
