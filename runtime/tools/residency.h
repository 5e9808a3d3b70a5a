// Residency models for hsa-residency (issue 14): where the selected tokens of
// a token-level selection (DSA, any page_size 1 layer) live on the device.
//
// Token residency is what the runtime does for such a layer: a buffer of C
// slots of one token row each per (request, group), diffed by BRIEF.md's LRU
// rule. Page residency keeps the selection token-level but makes the unit of
// residency a page of P consecutive tokens: each step diffs the distinct
// pages of the selected tokens against a buffer of C / P page slots (the same
// device memory for the rows), and a missed page moves its P rows (fewer
// where the request's last page is partial) host -> device.
//
// LruBuffer implements BRIEF.md step 3 exactly on pages (a token is a page of
// P = 1): hits keep their slot; each miss takes a victim slot: empty slots
// first (lowest slot id first), then the resident slots not selected this
// step with the smallest last_used (ties: lowest slot id); misses take their
// victims in ascending page order; every selected slot gets last_used = step.
// BRIEF.md needs no rule for a step that selects more units than there are
// slots (C >= K); a page buffer can meet one (2048 scattered tokens can touch
// more than C / P pages), so this model adds one: misses left without a
// victim, once every slot holds a page of this step, are *streamed*: their
// selected rows are read for this step only (token rows, as a zero-copy read
// of them would) and nothing becomes resident. Which misses get the slots is
// the Overflow policy: Ascending keeps BRIEF.md's order (the highest pages of
// the step stream: often the recent, densely selected ones), Densest admits
// the missed pages with the most selected tokens (ties: lower page) and
// streams the sparsest, the most a page buffer can make of its slots.
//
// H2dModel turns a step's copy list into an estimated copy time from a
// transfer-size dependent bandwidth curve (pinned host -> device, zero-copy
// gather; the default points and their sources are in residency.cpp).
//
// SelectionTrace is a recorded run: per step and request the context length
// and the selected token ids of every group, so the models can be replayed
// at other capacities or page sizes without decoding again.
#ifndef HSA_RUNTIME_TOOLS_RESIDENCY_H
#define HSA_RUNTIME_TOOLS_RESIDENCY_H

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "hsa/status.hpp"

namespace hsa {
namespace residency {

// What one step did to one (request, group) buffer.
struct StepOutcome {
  uint32_t tokens = 0;          // selected tokens
  uint32_t pages = 0;           // distinct pages among them (= tokens at P 1)
  uint32_t hit_tokens = 0;      // selected tokens whose page was resident when the step began
  uint32_t hit_pages = 0;
  uint32_t miss_pages = 0;      // pages copied into a slot this step
  uint64_t miss_rows = 0;       // rows those copies move (a page's rows below the request's length)
  uint32_t evictions = 0;       // misses whose slot held another page
  uint32_t streamed_pages = 0;  // misses with no victim left (see above): not made resident
  uint64_t streamed_rows = 0;   // the selected rows of the streamed pages, read for this step only
  uint32_t common_pages = 0;    // distinct pages also selected in this buffer's previous step
};

enum class Overflow { Ascending, Densest };

class LruBuffer {
 public:
  // page_tokens >= 1, slots >= 1.
  LruBuffer(uint32_t page_tokens, uint32_t slots, Overflow overflow = Overflow::Ascending);

  // One decode step: `tokens[0, count)` ascending and distinct, each in
  // [0, length) (the step's selection; `length` the request's tokens, the
  // one appended this step included); `step` this request's step counter
  // (0, 1, ...). The appended token is in the device copy of its page if
  // that page is resident (BRIEF.md step 6), so it needs no copy then.
  StepOutcome step(const int32_t* tokens, size_t count, uint64_t length, int32_t step);

  uint32_t page_tokens() const { return page_tokens_; }
  uint32_t slots() const { return uint32_t(slot_page_.size()); }
  // The buffer after the last step: page of each slot (-1 empty), last_used (-1 never).
  const std::vector<int64_t>& slot_page() const { return slot_page_; }
  const std::vector<int32_t>& last_used() const { return last_used_; }
  // The last step's page table (slot of each distinct page, ascending pages;
  // -1 streamed) and copy list ((page, slot), in the order misses took them).
  const std::vector<int64_t>& step_pages() const { return pages_; }
  const std::vector<int32_t>& step_slots() const { return slots_; }
  const std::vector<std::pair<int64_t, int32_t>>& step_copies() const { return copies_; }
  // Rows moved by each copy of the last step (the copy list's order).
  const std::vector<uint32_t>& step_copy_rows() const { return copy_rows_; }

 private:
  uint32_t page_tokens_;
  Overflow overflow_;
  std::vector<int64_t> slot_page_;
  std::vector<int32_t> last_used_;
  std::vector<int32_t> page_slot_;  // page -> slot, -1 (grows with the pages seen)
  std::vector<int64_t> selected_stamp_;  // per slot: the last step (+1) it was selected in
  int64_t stamp_ = 0;
  std::vector<int64_t> pages_, previous_pages_;
  std::vector<int32_t> slots_;
  std::vector<uint32_t> page_selected_;  // selected tokens per distinct page
  std::vector<std::pair<int64_t, int32_t>> copies_;
  std::vector<uint32_t> copy_rows_;
  std::vector<int32_t> candidates_;
};

// Device bytes of one (request, group) buffer: the rows of its slots and its
// bookkeeping (slot_unit and last_used per slot, i32 each, and the reverse
// map unit -> slot over the pages of the max context, i32; the compiler's
// buf.unit_slot). The page table / token table of the step (K entries) is
// the same for both residencies and not counted.
struct BufferBytes {
  uint64_t rows = 0, bookkeeping = 0;
  uint64_t total() const { return rows + bookkeeping; }
};
BufferBytes buffer_bytes(uint32_t page_tokens, uint32_t slots, uint64_t row_bytes, uint64_t max_context_tokens);
// Page slots at equal device memory for the rows: floor(capacity_tokens / P).
uint32_t equal_memory_slots(uint64_t capacity_tokens, uint32_t page_tokens);

// Estimated host -> device copy time of one step's misses (one gather over
// the whole batch): overhead + sum over copies of bytes / bandwidth(bytes),
// the bandwidth interpolated log-linearly in the transfer size between the
// curve's points (clamped at both ends); nothing when nothing moves.
struct H2dModel {
  std::vector<std::pair<double, double>> curve;  // (transfer bytes, GB/s), ascending bytes
  double overhead_us = 0.0;                      // per step that copies anything
  double ceiling_gbps = 0.0;                     // one large pinned copy: the bound a gather cannot pass
  std::string source;                            // where the numbers come from

  static H2dModel measured_h200();  // CEILINGS.md's H200 figures (see residency.cpp)
  double bandwidth_gbps(double transfer_bytes) const;
  // Microseconds for `copies` transfers of `bytes` each (added to `sum_us`,
  // overhead not included).
  double transfer_us(double bytes, uint64_t copies) const;
  // "SIZE:GBPS,SIZE:GBPS,..." (SIZE in bytes, K suffix = x1024); InvalidArgument otherwise.
  Status parse_curve(const std::string& text);
};

// A recorded selection: steps x batch x groups x budget token ids (-1 padded).
// File (hsa-residency --save-trace / --trace), little-endian, no padding:
//   "HSASELTR", u32 version = 1,
//   u32 n + n bytes layer, u32 n + n bytes run (free text),
//   u32 batch, groups, budget, capacity (tokens), steps,
//   u64 row_bytes, max_context, u64 prompts[batch], u64 lengths[steps][batch],
//   i32 tokens[steps][batch][groups][budget] (each row ascending, then -1).
// Any token-level selection can be written so (a trained indexer's top-k
// indices, say) and replayed through the models without running a layer.
struct SelectionTrace {
  std::string layer;            // the artifact's layer name and algorithm, for the report
  std::string run;              // the workload that made it, for the report
  uint32_t batch = 0, groups = 0, budget = 0, capacity = 0, steps = 0;
  uint64_t row_bytes = 0;       // the layer's bytes per token row
  uint64_t max_context = 0;     // the run's max context tokens
  std::vector<uint64_t> prompts;   // [batch]
  std::vector<uint64_t> lengths;   // [steps][batch]: tokens of the request at that step
  std::vector<int32_t> tokens;     // [steps][batch][groups][budget]

  const int32_t* selection(uint32_t step, uint32_t b, uint32_t g) const {
    return &tokens[((uint64_t(step) * batch + b) * groups + g) * budget];
  }
  Status write(const std::string& path) const;
  static Status read(const std::string& path, SelectionTrace* out);
};

}  // namespace residency
}  // namespace hsa

#endif  // HSA_RUNTIME_TOOLS_RESIDENCY_H
