// The stage checker: runs one decode step of a Runtime (any backend) and
// checks every stage of it against the CPU reference (cpu_backend.h), each
// reference stage fed with the backend's result of the previous stage, so a
// near-tie in the scores cannot cascade into false mismatches downstream.
// Used by `hsa-run --check` and the GPU tests; documented in docs/RUNTIME.md.
//
//   repr    the snapshot's repr.* (what prefill/append kernels built) vs the
//           algorithm package's reference replayed from the host pool (the
//           request's last prefill, then its appends), compared as the package
//           says (Quest: equal values, all units the first time a request is
//           seen by a workspace, then the last two units; ClusterKV:
//           docs/algorithms/cluster_kv.md)
//   score   reference::score on the pre-step snapshot (repr.*, req.*) and q
//           vs sel.scores: +-inf exactly; finite within the package's
//           score_tolerance
//   top-k   reference::top_k on the backend's sel.scores vs sel.units: exact
//   diff    reference::diff on the snapshot's buf.slot_unit/last_used/unit_slot
//           with the backend's sel.units vs sel.slots, sel.copy_count, the
//           first copy_count entries of sel.copy_units/copy_slots,
//           buf.slot_unit, buf.last_used and the reverse map buf.unit_slot:
//           exact
//   gather  every resident slot (buf.slot_unit >= 0) of buf.k/v equals its
//           host unit bit for bit (tokens < L); every slot not in the copy
//           list is unchanged from the snapshot (only misses move)
//   attend  reference::attend with the backend's sel.units/slots and buf.k/v
//           vs io.o: relative L2 error per request <= kAttendTolerance
//           and the layer format's exported page tables (fa.*, fi.*, tok.*)
//           vs reference::page_tables on the device's selection and slots,
//           exactly (under the diff stage)
//   telemetry  the same reference attention's per-head LSE (fp64) vs io.lse,
//           which attention always writes, within kLseTolerance; with
//           RuntimeOptions::telemetry also the backend's RequestTelemetry:
//           its selected_lse likewise and, where the algorithm bounds the
//           unselected units, missed_mass_bound vs reference::telemetry on the
//           snapshot's repr.* and the backend's sel.units within
//           kMissedMassTolerance; where the layer has the top-k's group
//           bound, io.group_unselected_log_bound vs reference::group_log_bound
//           on the device's scores and selection (kGroupBoundTolerance),
//           whether or not telemetry is on
#ifndef HSA_RUNTIME_STAGE_CHECK_H
#define HSA_RUNTIME_STAGE_CHECK_H

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cpu_backend.h"
#include "hsa/runtime.hpp"

namespace hsa {

// Score bound: |device - reference| <= tolerance * max(1, max |reference|)
// where the max runs over the finite reference scores of the same (request,
// group) row and the tolerance is the package's score_tolerance (1e-4 by
// default: the reference is fp64 rounded to f32; a GPU sums D fp32 products
// of bf16 inputs in another order).
// Attention bound: ||o_device - o_reference||_2 / ||o_reference||_2 over all
// heads of one request. io.o is bf16 (relative rounding error <= 2^-9 per
// element, about 1.1e-3 in L2 for random data), accumulation fp32.
constexpr double kAttendTolerance = 3e-3;
// LSE bound: |device - reference| <= kLseTolerance * (1 + |reference|); -inf
// (no token) exactly. The device's logits are fp32 dots of D <= 576 products
// (relative error ~sqrt(D) * 2^-24, at worst D * 2^-24 = 3.4e-5, of the
// logits' magnitude) merged through ex2/lg2.approx (2^-22 relative): about
// 1e-6 * (1 + max |logit|) against the fp64 reference; 1e-4 leaves room for
// heads whose max logit exceeds their LSE's magnitude.
constexpr double kLseTolerance = 1e-4;
// Missed-mass bound: |device - reference| <= kMissedMassTolerance. The bound
// is 1 / (1 + exp(lse - log U)), whose slope in either log is at most 1/4;
// log U comes from fp32 Quest bounds (the same D-term sums) with exact
// fixed-point sums, so both logs err by ~1e-6 * (1 + magnitude): 1e-4
// covers magnitudes up to ~100.
constexpr double kMissedMassTolerance = 1e-4;
// Group bound (io.group_unselected_log_bound, telemetry_contract.h):
// |device - reference| <= kGroupBoundTolerance + n * kGroupBoundTolerancePerUnit
// in log U_g over a row of n units, -inf and +inf exactly. The kernel sums n
// fp32 terms of ex2.approx; the reference sums the same scores in fp64. Half
// the contract's margin (2^-10 + n 2^-22), so a value that passes still
// bounds the true sum.
constexpr double kGroupBoundTolerance = 1.0 / 2048;             // 2^-11
constexpr double kGroupBoundTolerancePerUnit = 1.0 / 8388608;   // 2^-23

enum class CheckStage { Repr = 0, Score = 1, TopK = 2, Diff = 3, Gather = 4, Attend = 5, Telemetry = 6 };
constexpr int kCheckStageCount = 7;
const char* check_stage_name(CheckStage stage);

struct StageOutcome {
  bool passed = true;
  uint64_t compared = 0;    // elements (score, top-k, diff, attend) or slots (gather) compared
  uint64_t mismatches = 0;  // elements / slots outside the bound
  // score: largest |d - r| / max(1, row max |r|); attend: largest relative L2
  // error of a request; exact stages: 0 (mismatches counts them).
  double worst_error = 0.0;
  std::string first_mismatch;  // "" when passed
};

struct StageCheckReport {
  bool passed = true;
  std::string message;  // the first mismatch in stage order ("" when passed)
  StageOutcome stages[kCheckStageCount];
  double attend_max_abs_error = 0.0;  // largest |o_device - o_reference| of an element
  double score_tolerance = 0.0;       // the score bound's tolerance (the package's)
  double decode_wall_ms = 0.0;  // wall time of the decode step alone (checked_decode_step; not merged)

  const StageOutcome& stage(CheckStage s) const { return stages[int(s)]; }
  // Folds another step's report into this one (worst errors, counts, first message).
  void merge(const StageCheckReport& other);
  // "score ok (max 2.1e-07), top-k ok, diff ok, gather ok (31 slots), attend ok (rel L2 1.1e-03, abs 2.0e-03)"
  std::string summary() const;
};

// The pre-step state and the backend's results of one checked decode step.
// Only the rows of the call's batch slots are meaningful.
struct StepCapture {
  std::vector<uint32_t> slots;  // batch slots of the call, in call order
  std::vector<RequestId> ids;
  std::vector<uint16_t> q;      // [count][Hq][D], as passed to decode_step
  // The decode step inputs' rows [count][row], LayerShape::step_inputs order.
  std::vector<std::vector<uint8_t>> decode_inputs;
  DeviceBuffers before;         // repr.*, buf.*, req.* before the step (req.* as the step sees them)
  DeviceBuffers after;          // sel.*, buf.*, io.o after the step
  // Per batch slot, the length of the request's last prefill (empty: the
  // current length, as if the request had only been prefilled).
  std::vector<uint32_t> prefill_length;
  // The algorithm's reference representations, replayed from the host pool
  // (repr.* and req.length of `model`), per slot for the request
  // `model_request` (0: none yet) from its prefill of `model_prefill` tokens.
  DeviceBuffers model;
  std::vector<RequestId> model_request;
  std::vector<uint32_t> model_prefill;
  // The backend's request_telemetry of each call slot after the step (empty
  // when the runtime's telemetry is off).
  std::vector<RequestTelemetry> telemetry;
  // The format's exported page tables after the step, in the format's order
  // (empty: native format, or a backend without them, as the CPU backend).
  std::vector<std::vector<int32_t>> page_tables;
  explicit StepCapture(const LayerShape& shape)
      : before(shape), after(shape), model(shape), model_request(shape.batch, 0), model_prefill(shape.batch, 0) {}
};

struct StageCheckOptions {
  int64_t step = 0;  // step number named in messages
  // Test hook: called after the read-back, before the comparison, so a test
  // can perturb the snapshot or the results and see the check fail.
  std::function<void(StepCapture&)> perturb;
  // Optional: the host copies of the buffers kept across steps of the same
  // runtime (allocated on first use) instead of allocated every step.
  std::unique_ptr<StepCapture>* workspace = nullptr;
};

// rt.decode_step(ids, count, q, o, stats), checked stage by stage. A non-ok
// Status means the step or a buffer read failed; mismatches are reported in
// `report` (report->passed false) with an ok Status.
// `inputs`: the algorithm's decode step inputs, as decode_step takes them.
Status checked_decode_step(Runtime& rt, const RequestId* ids, size_t count, const void* q, void* o, StepStats* stats,
                           const StageCheckOptions& options, StageCheckReport* report,
                           const StepInput* inputs = nullptr, size_t input_count = 0);

// The comparison alone, on a capture (what checked_decode_step runs).
StageCheckReport compare_step(const LayerShape& shape, const HostBuffers& host, StepCapture& capture, int64_t step);

}  // namespace hsa

#endif  // HSA_RUNTIME_STAGE_CHECK_H
