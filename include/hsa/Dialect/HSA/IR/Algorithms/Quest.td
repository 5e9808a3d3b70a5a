//===- Quest.td - the Quest algorithm attribute ---*- tablegen -*-===//
//
// One algorithm package's dialect side: its attribute (parameters, verifier,
// representations and IR builders in lib/Dialect/HSA/IR/Algorithms/Quest.cpp).
// Its kernels are lib/Conversion/HSAToGPU/Algorithms/Quest.cpp and its CPU
// reference runtime/src/algorithms/. Included by HSAAttrs.td.
//
//===----------------------------------------------------------------------===//

#ifndef HSA_DIALECT_HSA_IR_ALGORITHMS_QUEST_TD
#define HSA_DIALECT_HSA_IR_ALGORITHMS_QUEST_TD

def HSA_QuestAttr : HSA_AlgorithmAttr<"Quest", "quest"> {
  let summary = "Quest: per-unit key bounds give an upper bound of every logit";
  let description = [{
    Representations are the per-dimension minimum and maximum of the unit's
    keys (`repr.kmin`, `repr.kmax`). A query scores a unit with
    `sum_d max(q_d * kmin_d, q_d * kmax_d)`; `combine` says how the query heads
    of a selection group are merged: `max` of the per-head bounds (still an
    upper bound), `sum`, or `mean_query` (the bound of the mean query).

    ```mlir
    #hsa.quest<combine = max>
    ```
  }];
  let parameters = (ins EnumParameter<HSA_ScoreCombine>:$combine);
  let assemblyFormat = "`<` struct(params) `>`";
}

#endif // HSA_DIALECT_HSA_IR_ALGORITHMS_QUEST_TD
