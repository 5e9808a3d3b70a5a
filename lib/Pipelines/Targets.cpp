//===- Targets.cpp - the GPU targets hsa's kernels can be built for -------===//

#include "hsa/Pipelines/Targets.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;

// The NVPTX processors of LLVM 22 that CUDA 13's ptxas also knows (it has
// dropped sm_70/sm_72 and renamed sm_101 to sm_110), with the minimum PTX ISA
// NVPTX requires for each (llc -mcpu=<chip> -mattr=+ptx32 states it). The
// kernels need sm_70 or later (shfl.sync, match.any.sync, fence.acq_rel).
static const hsa::ChipInfo kChips[] = {
    {"sm_75", 63},    {"sm_80", 70},
    {"sm_86", 71},    {"sm_87", 74},    {"sm_88", 90},    {"sm_89", 78},
    {"sm_90", 78},    {"sm_90a", 80},   {"sm_100", 86},   {"sm_100a", 86},
    {"sm_100f", 88},
    {"sm_103", 88},   {"sm_103a", 88},  {"sm_103f", 88},  {"sm_110", 90},
    {"sm_110a", 90},  {"sm_110f", 90},  {"sm_120", 87},   {"sm_120a", 87},
    {"sm_120f", 88},  {"sm_121", 88},   {"sm_121a", 88},  {"sm_121f", 88},
};

// The PTX ISA versions NVPTX of LLVM 22 can emit (+ptxNN).
static const unsigned kPtxVersions[] = {60, 61, 62, 63, 64, 65, 70, 71, 72,
                                        73, 74, 75, 76, 77, 78, 80, 81, 82,
                                        83, 84, 85, 86, 87, 88, 90};

std::optional<hsa::ChipInfo> hsa::lookupChip(StringRef chip) {
  for (const ChipInfo &info : kChips)
    if (info.chip == chip)
      return info;
  return std::nullopt;
}

std::string hsa::supportedChips() {
  std::string text;
  raw_string_ostream os(text);
  llvm::interleave(kChips, os, [&](const ChipInfo &c) { os << c.chip; }, ", ");
  return text;
}

/// fp8 tensor-core MMA (mma.sync m16n8k32 e4m3): sm_89 and later, PTX ISA
/// 8.4 (NVPTX selects it under exactly these two conditions).
static constexpr unsigned kFp8MMASm = 89;
static constexpr unsigned kFp8MMAPtx = 84;

/// The chip's SM number (sm_90a -> 90).
static unsigned smNumber(StringRef chip) {
  unsigned sm = 0;
  chip.consume_front("sm_");
  (void)chip.take_while(llvm::isDigit).getAsInteger(10, sm);
  return sm;
}

/// The PTX ISA the chip's kernels get without features: the chip's minimum,
/// raised to 8.4 where that enables fp8 tensor cores (every driver of an
/// sm_89+ GPU that runs CUDA 13 JIT-compiles PTX 8.4).
static unsigned defaultPtxVersion(const hsa::ChipInfo &info) {
  if (smNumber(info.chip) >= kFp8MMASm)
    return std::max(info.minPtxVersion, kFp8MMAPtx);
  return info.minPtxVersion;
}

bool hsa::hasFp8MMA(StringRef chip, StringRef features) {
  unsigned ptx = 0;
  StringRef digits = features.trim();
  if (!digits.consume_front("+ptx") || digits.getAsInteger(10, ptx))
    return false;
  return smNumber(chip) >= kFp8MMASm && ptx >= kFp8MMAPtx;
}

bool hsa::hasWarpgroupMMA(StringRef chip) { return chip == "sm_90a"; }

bool hsa::hasClusters(StringRef chip) { return smNumber(chip) >= 90; }

hsa::TargetFeatures hsa::targetFeatures(StringRef chip, StringRef features) {
  return {hasFp8MMA(chip, features), hasWarpgroupMMA(chip), hasClusters(chip)};
}

static std::string ptxFeature(unsigned version) {
  return "+ptx" + std::to_string(version);
}

std::optional<std::string> hsa::resolveNVVMTarget(StringRef chip,
                                                  StringRef features,
                                                  StringRef format,
                                                  std::string &error) {
  raw_string_ostream os(error);
  std::optional<ChipInfo> info = lookupChip(chip);
  if (!info) {
    os << "unsupported chip '" << chip << "': hsa's kernels build for "
       << supportedChips();
    return std::nullopt;
  }
  if (!is_contained({"isa", "bin", "fatbin", "both"}, format)) {
    os << "unknown kernel format '" << format
       << "': expected isa (PTX), bin (cubin), fatbin or both (PTX + cubin)";
    return std::nullopt;
  }
  if (features.trim().empty())
    return ptxFeature(defaultPtxVersion(*info));

  SmallVector<StringRef> parts;
  features.split(parts, ',', -1, /*KeepEmpty=*/false);
  std::optional<unsigned> ptx;
  for (StringRef part : parts) {
    part = part.trim();
    StringRef digits = part;
    unsigned version = 0;
    if (!digits.consume_front("+ptx") || digits.getAsInteger(10, version) ||
        !is_contained(kPtxVersions, version)) {
      os << "unsupported feature '" << part
         << "' in '" << features << "': expected +ptxNN with NN one of ";
      llvm::interleave(kPtxVersions, os, ", ");
      return std::nullopt;
    }
    if (ptx) {
      os << "features '" << features << "' name two PTX ISA versions";
      return std::nullopt;
    }
    ptx = version;
  }
  if (*ptx < info->minPtxVersion) {
    os << "chip " << chip << " needs PTX ISA " << info->minPtxVersion / 10
       << "." << info->minPtxVersion % 10 << " or later, but features are '"
       << features << "': pass features " << ptxFeature(info->minPtxVersion)
       << " (or leave them empty for the chip's default, "
       << ptxFeature(defaultPtxVersion(*info)) << ")";
    return std::nullopt;
  }
  return features.trim().str();
}
