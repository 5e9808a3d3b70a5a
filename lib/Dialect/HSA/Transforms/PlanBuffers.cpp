//===- PlanBuffers.cpp - record each layer's buffer plan ------------------===//
//
// The plan is derived from the layer (LayerOp::getStateBuffers: the
// contract, the algorithm's buffers, and the buffers the kernel families
// declared when they were generated), so every consumer (kernels, artifact,
// runtime) sees one list. This pass makes it explicit in the IR and reports
// what a request costs in each tier; the lowering pipelines run it after
// convert-hsa-to-gpu, so the kernels' scratch is counted as planned.
//
//===----------------------------------------------------------------------===//

#include "hsa/Dialect/HSA/Transforms/Passes.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/MathExtras.h"
#include "llvm/Support/raw_ostream.h"

namespace mlir {
namespace hsa {
#define GEN_PASS_DEF_HSAPLANBUFFERS
#include "hsa/Dialect/HSA/Transforms/Passes.h.inc"
} // namespace hsa
} // namespace mlir

using namespace mlir;
using namespace mlir::hsa;

static std::string formatBytes(int64_t bytes) {
  std::string text;
  llvm::raw_string_ostream os(text);
  if (bytes >= (1ll << 30))
    os << llvm::format("%.2f GiB", bytes / double(1ll << 30));
  else if (bytes >= (1ll << 20))
    os << llvm::format("%.2f MiB", bytes / double(1ll << 20));
  else
    os << llvm::format("%.1f KiB", bytes / 1024.0);
  return text;
}

/// "4.0x less" / "1.2x more": hsa's device bytes against the full cache's.
static std::string comparison(int64_t full, int64_t device) {
  std::string text;
  llvm::raw_string_ostream os(text);
  if (device <= full)
    os << llvm::format("%.1fx less",
                       full / double(std::max<int64_t>(device, 1)));
  else
    os << llvm::format("%.1fx more", device / double(full));
  return text;
}

/// Byte counts saturate at INT64_MAX (options may ask for absurd contexts).
static int64_t addBytes(int64_t a, int64_t b) {
  return int64_t(std::min<uint64_t>(uint64_t(a) + uint64_t(b), INT64_MAX));
}
static int64_t mulBytes(int64_t a, int64_t b) {
  bool overflow = false;
  return int64_t(std::min<uint64_t>(
      llvm::SaturatingMultiply(uint64_t(a), uint64_t(b), &overflow),
      INT64_MAX));
}

namespace {
/// The bytes one request of `context` tokens takes in each tier, and what a
/// full device-resident cache of that context would take.
struct RequestBytes {
  int64_t context = 0;
  int64_t device = 0, host = 0, unitBuffer = 0, representations = 0;
  int64_t fullCache = 0;

  static RequestBytes of(LayerOp layer, ArrayRef<BufferSpec> specs,
                         int64_t context) {
    RequestBytes r;
    r.context = context;
    for (const BufferSpec &spec : specs) {
      StringRef name = spec.name;
      // Decode-step inputs and outputs belong to the engine, not to hsa.
      if (name.starts_with("io."))
        continue;
      int64_t bytes = layer.getBytesPerRequest(spec, context);
      if (spec.tier == PlacementTier::host) {
        r.host = addBytes(r.host, bytes);
        continue;
      }
      r.device = addBytes(r.device, bytes);
      if (name == "buf.k" || name == "buf.v")
        r.unitBuffer = addBytes(r.unitBuffer, bytes);
      if (name.starts_with("repr."))
        r.representations = addBytes(r.representations, bytes);
    }
    LayerConfigAttr config = layer.getConfig();
    int64_t rowElements = config.getKeyRowElements() +
                          (config.isLatent() ? 0 : config.getValueDim());
    r.fullCache = mulBytes(mulBytes(context, config.getKvHeads()),
                           rowElements * config.getElementBytes());
    return r;
  }
};

struct PlanBuffersPass
    : public hsa::impl::HSAPlanBuffersBase<PlanBuffersPass> {
  using HSAPlanBuffersBase::HSAPlanBuffersBase;

  void runOnOperation() override {
    if (maxContext < 1 || maxContext > (int64_t(1) << 40)) {
      getOperation().emitError()
          << "hsa-plan-buffers: max-context must be between 1 and 2^40 "
             "tokens (got "
          << maxContext.getValue() << ")";
      return signalPassFailure();
    }
    if (deviceMemoryGiB < 0) {
      getOperation().emitError()
          << "hsa-plan-buffers: device-memory-gib must be 0 (unchecked) or "
             "positive (got "
          << deviceMemoryGiB.getValue() << ")";
      return signalPassFailure();
    }
    bool servable = true;
    getOperation().walk([&](LayerOp layer) {
      Builder b(layer.getContext());
      SmallVector<BufferSpec> specs;
      layer.getStateBuffers(specs);
      SmallVector<Attribute> entries;
      for (const BufferSpec &spec : specs)
        entries.push_back(encodeBufferSpec(layer.getContext(), spec));
      layer->setAttr("hsa.plan", b.getArrayAttr(entries));
      RequestBytes atMax = RequestBytes::of(layer, specs, maxContext);
      if (report)
        emitReport(layer, atMax);
      servable &= succeeded(checkServable(layer, specs, atMax));
    });
    if (!servable)
      signalPassFailure();
  }

  /// Refuses a layer no batch of which fits the device; warns where hsa
  /// needs more device memory than not offloading would.
  LogicalResult checkServable(LayerOp layer, ArrayRef<BufferSpec> specs,
                              const RequestBytes &atMax) {
    const int64_t limit = mulBytes(deviceMemoryGiB, int64_t(1) << 30);
    RequestBytes atOne = RequestBytes::of(layer, specs, 1);
    if (limit > 0 && atOne.device > limit)
      return layer.emitError()
             << "one request needs " << formatBytes(atOne.device)
             << " of device memory even at 1 token (unit buffer "
             << formatBytes(atOne.unitBuffer) << "), more than the "
             << deviceMemoryGiB.getValue()
             << " GiB of device-memory-gib: no batch can be served; lower "
                "the buffer capacity, the page size or the head count";
    if (atMax.device > atMax.fullCache)
      layer.emitWarning()
          << "a request needs " << formatBytes(atMax.device)
          << " of device memory at " << maxContext.getValue()
          << " tokens (unit buffer " << formatBytes(atMax.unitBuffer)
          << "), more than a full device-resident cache of that context ("
          << formatBytes(atMax.fullCache)
          << "): offloading saves nothing; lower the buffer capacity or the "
             "page size";
    return success();
  }

  /// Per-request accounting: the GPU memory a request takes with hsa against
  /// a full device-resident cache of the same context.
  void emitReport(LayerOp layer, const RequestBytes &bytes) {
    layer.emitRemark() << "per request at " << bytes.context
                       << " tokens: device " << formatBytes(bytes.device)
                       << " (unit buffer " << formatBytes(bytes.unitBuffer)
                       << ", representations "
                       << formatBytes(bytes.representations)
                       << ", maps/tables/scratch "
                       << formatBytes(bytes.device - bytes.unitBuffer -
                                      bytes.representations)
                       << ") vs full device cache "
                       << formatBytes(bytes.fullCache) << " ("
                       << comparison(bytes.fullCache, bytes.device)
                       << "); host " << formatBytes(bytes.host);
  }
};
} // namespace
