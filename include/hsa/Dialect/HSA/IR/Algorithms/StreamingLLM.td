//===- StreamingLLM.td - the StreamingLLM algorithm attribute ---*- tablegen -*-===//
//
// One algorithm package's dialect side: its attribute (parameters, verifier,
// representations and IR builders in lib/Dialect/HSA/IR/Algorithms/StreamingLLM.cpp).
// Its kernels are lib/Conversion/HSAToGPU/Algorithms/StreamingLLM.cpp and its CPU
// reference runtime/src/algorithms/. Included by HSAAttrs.td.
//
//===----------------------------------------------------------------------===//

#ifndef HSA_DIALECT_HSA_IR_ALGORITHMS_STREAMINGLLM_TD
#define HSA_DIALECT_HSA_IR_ALGORITHMS_STREAMINGLLM_TD

def HSA_StreamingLLMAttr : HSA_AlgorithmAttr<"StreamingLLM", "streaming_llm"> {
  let summary = "StreamingLLM: attention sinks plus a recent window only";
  let description = [{
    No representations and no scoring: every step selects exactly the forced
    units (`sinks` first and `window` last units of `#hsa.forced`).

    ```mlir
    #hsa.streaming_llm
    ```
  }];
}

#endif // HSA_DIALECT_HSA_IR_ALGORITHMS_STREAMINGLLM_TD
