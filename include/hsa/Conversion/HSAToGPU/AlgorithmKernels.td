//===- AlgorithmKernels.td - an algorithm's kernels, as a model ----------===//
//
// The lowering side of an algorithm package. The dialect's attribute says
// what the algorithm is (SparseAlgorithmAttrInterface: parameters,
// representations, IR builders); HSAToGPU attaches this interface to it as an
// external model (lib/Conversion/HSAToGPU/Algorithms/<Name>.cpp, registered
// by registerAlgorithmKernels), so the dialect knows no lowering and a new
// algorithm adds one file and one registration line here.
//
//===----------------------------------------------------------------------===//

#ifndef HSA_CONVERSION_HSATOGPU_ALGORITHMKERNELS_TD
#define HSA_CONVERSION_HSATOGPU_ALGORITHMKERNELS_TD

include "mlir/IR/OpBase.td"

def HSA_AlgorithmKernelsAttrInterface
    : AttrInterface<"AlgorithmKernelsAttrInterface"> {
  let cppNamespace = "::mlir::hsa";
  let description = [{
    The kernels of one sparse algorithm: its score kernel, written inside
    the shared score frame (grid, forced and invalid units, the fused top-k
    tail, the launch), and its representation kernels for append and
    prefill; and the limits of those kernels, checked on the layer alone.
  }];
  let methods = [
    InterfaceMethod<[{
        Emits an error (through `emitError`) and fails if this algorithm's
        kernels cannot be generated for `layer`.
      }],
      "::llvm::LogicalResult", "verifyKernelLimits",
      (ins "::mlir::hsa::LayerOp":$layer,
           "::llvm::function_ref<::mlir::InFlightDiagnostic()>":$emitError)>,
    InterfaceMethod<[{
        Replaces `op` by the launch of a score kernel built in `frame`.
      }],
      "::llvm::LogicalResult", "lowerScore",
      (ins "::mlir::hsa::KernelContext &":$ctx, "::mlir::hsa::ScoreOp":$op,
           "::mlir::hsa::ScoreFrame &":$frame)>,
    InterfaceMethod<[{
        Replaces `op` (append) by the launch of a kernel that folds the
        appended token into the representations.
      }],
      "::llvm::LogicalResult", "lowerUpdateRepresentations",
      (ins "::mlir::hsa::KernelContext &":$ctx,
           "::mlir::hsa::UpdateReprOp":$op)>,
    InterfaceMethod<[{
        Replaces `op` (prefill) by the launch of a kernel that rebuilds the
        representations from the host pool.
      }],
      "::llvm::LogicalResult", "lowerRebuildRepresentations",
      (ins "::mlir::hsa::KernelContext &":$ctx,
           "::mlir::hsa::RebuildReprOp":$op)>,
    InterfaceMethod<[{
        Whether every unit's score, times the layer's softmax scale, is an
        upper bound of the logit of every query head of its selection group
        over the unit's tokens (Quest with combine = max). The top-k then
        bounds the mass the selection missed from the scores alone
        (io.group_unselected_log_bound, docs/ACCURACY.md "Telemetry").
      }],
      "bool", "scoresBoundGroupLogits",
      (ins "::mlir::hsa::LayerOp":$layer), /*methodBody=*/[{}],
      /*defaultImplementation=*/[{ return false; }]>
  ];
}

#endif // HSA_CONVERSION_HSATOGPU_ALGORITHMKERNELS_TD
