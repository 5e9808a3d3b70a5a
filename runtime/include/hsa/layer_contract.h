// The layer contract (layer_contract.def) as one constexpr table, for every
// consumer on both sides: the compiler's buffer list, the runtime's
// documented table and its loader checks, the docs generator.
//
// Dependency-free C++17 (the compiler includes it with -fno-exceptions and
// -fno-rtti), like artifact_format.h whose Symbol and Tier it uses.
#ifndef HSA_LAYER_CONTRACT_H
#define HSA_LAYER_CONTRACT_H

#include <cstdint>
#include <initializer_list>

#include "hsa/artifact_format.h"

namespace hsa {
namespace artifact {
namespace contract {

// Kv: the stored cache's element (bf16, f16; u8 for Fp8Latent rows); Act: the
// queries' and outputs' (the KV dtype, bf16 for Fp8Latent).
enum class Element : uint32_t { Kv, Act, I32, F32 };
enum class Fill : uint32_t { Zero, MinusOne };
enum class Presence : uint32_t { Always, SeparateValues };

// One row of the contract; `algorithm_buffers` marks where the algorithm's
// representations go (a row with no buffer of its own).
struct BufferEntry {
  const char* name;
  Tier tier;
  Element element;
  Fill fill;
  Presence presence;
  uint32_t rank;
  Symbol dims[kMaxRank];
  const char* notes;
  bool algorithm_buffers;
};

namespace detail {
constexpr uint32_t rank_of(std::initializer_list<Symbol> dims) { return uint32_t(dims.size()); }
// The vocabulary the .def's rows are written in.
constexpr Tier Host = Tier::Host, Device = Tier::Device;
constexpr Element Kv = Element::Kv, Act = Element::Act, I32 = Element::I32, F32 = Element::F32;
constexpr Fill Zero = Fill::Zero, MinusOne = Fill::MinusOne;
constexpr Presence Always = Presence::Always, SeparateValues = Presence::SeparateValues;
constexpr Symbol Batch = Symbol::Batch, MaxUnits = Symbol::MaxUnits, PoolPages = Symbol::PoolPages,
                 QHeads = Symbol::QHeads, KvHeads = Symbol::KvHeads, HeadDim = Symbol::HeadDim,
                 ValueDim = Symbol::ValueDim, PageSize = Symbol::PageSize, Groups = Symbol::Groups,
                 HeadsPerUnit = Symbol::HeadsPerUnit, Budget = Symbol::Budget, Capacity = Symbol::Capacity,
                 KeyRow = Symbol::KeyRow;

#define HSA_DIMS(...) rank_of({__VA_ARGS__}), { __VA_ARGS__ }
#define HSA_LAYER_BUFFER(name, tier, element, fill, presence, dims, notes) \
  BufferEntry{name, tier, element, fill, presence, dims, notes, false},
#define HSA_LAYER_ALGORITHM_BUFFERS() \
  BufferEntry{"", Device, Kv, Zero, Always, 0, {}, "", true},
constexpr BufferEntry kBuffers[] = {
#include "hsa/layer_contract.def"
};
#undef HSA_DIMS
}  // namespace detail

// The contract's rows, in the order of the layer's buffer table.
constexpr const BufferEntry* begin() { return detail::kBuffers; }
constexpr const BufferEntry* end() { return detail::kBuffers + sizeof(detail::kBuffers) / sizeof(BufferEntry); }
struct Table {
  const BufferEntry* begin() const { return contract::begin(); }
  const BufferEntry* end() const { return contract::end(); }
};
constexpr Table buffers() { return Table{}; }

// The artifact element type of a row for a layer whose stored K/V element is
// `kv` and whose queries and outputs are `act`.
inline ElementType element_type(Element e, ElementType kv, ElementType act) {
  switch (e) {
    case Element::Kv: return kv;
    case Element::Act: return act;
    case Element::I32: return ElementType::I32;
    case Element::F32: return ElementType::F32;
  }
  return kv;
}

}  // namespace contract
}  // namespace artifact
}  // namespace hsa

#endif  // HSA_LAYER_CONTRACT_H
