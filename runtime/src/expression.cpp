#include "expression.h"

namespace hsa {
using namespace artifact;

const char* symbol_name(Symbol symbol) {
  static const char* const names[kSymbolCount] = {
      "batch", "max_units", "max_tokens", "pool_pages", "q_heads", "kv_heads",
      "head_dim", "value_dim", "page_size", "groups", "heads_per_unit", "budget",
      "capacity", "sinks", "window", "element_bytes", "key_row"};
  const uint32_t index = uint32_t(symbol);
  return index < kSymbolCount ? names[index] : "<unknown symbol>";
}

Status verify_expression(const std::vector<ExprInstr>& code, ExprRef ref, const std::string& what) {
  auto fail = [&](const std::string& why) {
    return Status(StatusCode::InvalidArtifact, "malformed expression for " + what + ": " + why);
  };
  if (ref.count == 0) return fail("empty");
  if (uint64_t(ref.first) + ref.count > code.size())
    return fail("instructions [" + std::to_string(ref.first) + ", " +
                std::to_string(uint64_t(ref.first) + ref.count) + ") exceed the " +
                std::to_string(code.size()) + " in section 'expr_code'");
  uint32_t depth = 0;
  for (uint32_t i = 0; i < ref.count; ++i) {
    const ExprInstr& in = code[ref.first + i];
    const std::string at = " at instruction " + std::to_string(i);
    switch (ExprOp(in.op)) {
      case ExprOp::PushConst:
      case ExprOp::PushSym:
        if (ExprOp(in.op) == ExprOp::PushSym && in.symbol >= kSymbolCount)
          return fail("unknown symbol " + std::to_string(in.symbol) + at);
        if (++depth > kMaxExprStack) return fail("stack deeper than " + std::to_string(kMaxExprStack) + at);
        break;
      case ExprOp::Add: case ExprOp::Sub: case ExprOp::Mul:
      case ExprOp::CeilDiv: case ExprOp::Min: case ExprOp::Max:
        if (depth < 2) return fail("stack underflow" + at);
        --depth;
        break;
      default:
        return fail("unknown opcode " + std::to_string(in.op) + at);
    }
  }
  if (depth != 1) return fail("leaves " + std::to_string(depth) + " values instead of 1");
  return Status::ok();
}

Status evaluate_expression(const std::vector<ExprInstr>& code, ExprRef ref, const SymbolValues& symbols,
                           const std::string& what, int64_t* result) {
  HSA_RETURN_IF_ERROR(verify_expression(code, ref, what));
  auto fail = [&](const std::string& why) {
    return Status(StatusCode::InvalidArtifact, "cannot evaluate " + what + ": " + why);
  };
  int64_t stack[kMaxExprStack];
  uint32_t depth = 0;
  for (uint32_t i = 0; i < ref.count; ++i) {
    const ExprInstr& in = code[ref.first + i];
    if (ExprOp(in.op) == ExprOp::PushConst) { stack[depth++] = in.value; continue; }
    if (ExprOp(in.op) == ExprOp::PushSym) { stack[depth++] = symbols[in.symbol]; continue; }
    const int64_t b = stack[--depth];
    const int64_t a = stack[depth - 1];
    int64_t r = 0;
    bool overflow = false;
    switch (ExprOp(in.op)) {
      case ExprOp::Add: overflow = __builtin_add_overflow(a, b, &r); break;
      case ExprOp::Sub: overflow = __builtin_sub_overflow(a, b, &r); break;
      case ExprOp::Mul: overflow = __builtin_mul_overflow(a, b, &r); break;
      case ExprOp::CeilDiv:
        if (b <= 0) return fail("ceil_div by " + std::to_string(b));
        if (a < 0) return fail("ceil_div of negative " + std::to_string(a));
        r = a / b + (a % b != 0);
        break;
      case ExprOp::Min: r = a < b ? a : b; break;
      case ExprOp::Max: r = a > b ? a : b; break;
      default: return fail("unknown opcode");  // unreachable after verify
    }
    if (overflow) return fail("64-bit overflow");
    stack[depth - 1] = r;
  }
  *result = stack[0];
  return Status::ok();
}

}  // namespace hsa
