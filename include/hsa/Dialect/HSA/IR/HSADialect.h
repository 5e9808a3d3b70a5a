//===- HSADialect.h - hsa dialect -------------------------------*- C++ -*-===//
//
// Include this header to use the hsa dialect: it fixes the include order of
// the generated declarations (enums, interfaces, attributes, ops).
//
//===----------------------------------------------------------------------===//

#ifndef HSA_DIALECT_HSA_IR_HSADIALECT_H
#define HSA_DIALECT_HSA_IR_HSADIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "hsa/Dialect/HSA/IR/HSADialect.h.inc"
#include "hsa/Dialect/HSA/IR/HSAEnums.h.inc"

#include <string>

namespace mlir {
namespace hsa {

class LayerConfigAttr;
class ForcedUnitsAttr;
class LayerOp;

/// Runtime-sized dimensions of a named buffer (docs/BUFFERS.md); every other
/// dimension is a compile-time constant of the layer.
enum : int64_t {
  kBatchDim = -2,  ///< `B`: batch slots
  kUnitsDim = -3,  ///< `N`: maximum units per request
  kPagesDim = -4,  ///< host pool pages
  kBatchPlusOneDim = -6, ///< `B + 1`: CSR offsets
};

/// A named buffer of a layer: its name, element type, shape (constants or the
/// runtime dimensions above), placement tier and the value every element
/// holds when a request starts (-1 marks "none" in slot and unit maps).
/// The high-level op an algorithm's own step inputs belong to
/// (SparseAlgorithmAttrInterface::getStepInputs).
enum class StepKind { Decode, Append };

struct BufferSpec {
  std::string name;
  Type elementType;
  SmallVector<int64_t> shape;
  PlacementTier tier;
  int64_t fill = 0;
};

/// One algorithm parameter as an artifact records it: an integer, or an enum
/// case by its spelling (`isString`).
struct AlgorithmParameter {
  std::string name;
  int64_t intValue = 0;
  std::string stringValue;
  bool isString = false;

  static AlgorithmParameter integer(StringRef name, int64_t value) {
    return {name.str(), value, std::string(), false};
  }
  static AlgorithmParameter string(StringRef name, StringRef value) {
    return {name.str(), 0, value.str(), true};
  }
};

/// A buffer spec as a dictionary attribute {name, tier, element, shape,
/// fill}, the runtime dims as strings ("B", "N", "pages", "B+1"): the form
/// of `hsa.plan` entries and of the buffers a lowering declares on a layer
/// (`hsa.kernel_buffers`).
DictionaryAttr encodeBufferSpec(MLIRContext *context, const BufferSpec &spec);
FailureOr<BufferSpec> decodeBufferSpec(DictionaryAttr entry);

class StageBuilder;

} // namespace hsa
} // namespace mlir

#include "hsa/Dialect/HSA/IR/HSAInterfaces.h.inc"
#include "hsa/Dialect/HSA/IR/HSAOpInterfaces.h.inc"

#define GET_ATTRDEF_CLASSES
#include "hsa/Dialect/HSA/IR/HSAAttrs.h.inc"

#define GET_OP_CLASSES
#include "hsa/Dialect/HSA/IR/HSAOps.h.inc"

namespace mlir {
namespace hsa {

/// Handed to algorithm IR builders by hsa-expand-algorithm: creates ops at an
/// insertion point and hands out the layer's named state buffers and the
/// expanded op's step inputs.
class StageBuilder {
public:
  StageBuilder(OpBuilder &builder, Location loc, LayerOp layer,
               ValueRange stepInputs = {})
      : builder(builder), loc(loc), layer(layer), stepInputs(stepInputs) {}
  virtual ~StageBuilder() = default;

  OpBuilder &getBuilder() { return builder; }
  Location getLoc() const { return loc; }
  LayerOp getLayer() const { return layer; }
  /// The memref of the named state buffer (an `hsa.state` op, created once).
  virtual Value getBuffer(StringRef name) = 0;
  /// The `inputs(...)` of the high-level op being expanded, in the order of
  /// the algorithm's getStepInputs for its kind (verified): decode_step's
  /// for buildScore, append's for buildUpdateRepresentations, none for
  /// prefill. The builders pass them to the stage ops' `inputs(...)`.
  ValueRange getStepInputs() const { return stepInputs; }

protected:
  OpBuilder &builder;
  Location loc;
  LayerOp layer;
  ValueRange stepInputs;
};

/// Memref type of a buffer spec: runtime dimensions become dynamic, the tier
/// becomes the memory space.
MemRefType getBufferType(const BufferSpec &spec);

/// The placement tier of a memref, if its memory space is an hsa tier.
std::optional<PlacementTier> getTier(MemRefType type);

} // namespace hsa
} // namespace mlir

#endif // HSA_DIALECT_HSA_IR_HSADIALECT_H
