// Verification and evaluation of the artifact's postfix size expressions.
#ifndef HSA_RUNTIME_EXPRESSION_H
#define HSA_RUNTIME_EXPRESSION_H

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "hsa/artifact_format.h"
#include "hsa/status.hpp"

namespace hsa {

using SymbolValues = std::array<int64_t, artifact::kSymbolCount>;

// Checks that `ref` lies in `code`, uses only known ops and symbols, never pops
// an empty stack, stays within kMaxExprStack and leaves exactly one value.
// `what` names the expression in the error message.
Status verify_expression(const std::vector<artifact::ExprInstr>& code, artifact::ExprRef ref,
                         const std::string& what);

// Evaluates a verified expression; overflow and bad ceil_div operands are errors.
Status evaluate_expression(const std::vector<artifact::ExprInstr>& code, artifact::ExprRef ref,
                           const SymbolValues& symbols, const std::string& what, int64_t* result);

const char* symbol_name(artifact::Symbol symbol);

}  // namespace hsa

#endif  // HSA_RUNTIME_EXPRESSION_H
