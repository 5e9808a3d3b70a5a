//===- MLIRMutator.cpp - token-level mutations of MLIR text ---------------===//
//
// libFuzzer's custom mutator and cross-over for both targets. Byte-level
// mutations rarely keep MLIR text parseable, and the verifier rejects most
// of what still parses, so the passes see little. Half of the mutations are
// libFuzzer's own (LLVMFuzzerMutate, with fuzz/hsa.dict); the other half
// work on tokens and lines:
//   - a number (any digit run, also inside `16x128xbf16` and `sm_90a`)
//     becomes a boundary value (0, -1, 2^31, 2^63, powers of two and their
//     neighbours) or its neighbour, double, half or negation;
//   - every occurrence of a number or a word changes together (a layer's
//     head_dim and the shapes that follow from it), keeping modules that
//     verify more often than one change does;
//   - a token is deleted, duplicated, or replaced by another token of the
//     same kind from the input (identifiers, strings, %values, @symbols) or
//     from a vocabulary (element types, enum cases, named buffers);
//   - `?` and a dimension swap places;
//   - a line is deleted, duplicated or swapped with its neighbour;
// and the cross-over splices lines of one input into another.
// HSA_FUZZ_MUTATOR=0 leaves only libFuzzer's mutations.
//
//===----------------------------------------------------------------------===//

#include "FuzzSupport.h"

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

extern "C" size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t maxSize);

namespace {

using Rng = std::mt19937;

enum class Kind { Number, Identifier, String, Value, Symbol, Punct };

struct Token {
  Kind kind;
  size_t begin, end;
};

bool isIdent(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' ||
         c == '$';
}

/// Splits MLIR text into tokens, loosely; the dimensions of a shape
/// (`?x8x128xbf16`) are numbers of their own, so that they mutate too.
std::vector<Token> tokenize(const std::string &text) {
  std::vector<Token> tokens;
  size_t i = 0, n = text.size();
  while (i < n) {
    char c = text[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '/' && i + 1 < n && text[i + 1] == '/') {
      while (i < n && text[i] != '\n')
        ++i;
    } else if (std::isdigit(static_cast<unsigned char>(c)) ||
               (c == '-' && i + 1 < n &&
                std::isdigit(static_cast<unsigned char>(text[i + 1])))) {
      size_t b = i++;
      while (i < n && std::isdigit(static_cast<unsigned char>(text[i])))
        ++i;
      tokens.push_back({Kind::Number, b, i});
    } else if (c == '"') {
      size_t b = i++;
      while (i < n && text[i] != '"' && text[i] != '\n')
        i += (text[i] == '\\' && i + 1 < n) ? 2 : 1;
      if (i < n && text[i] == '"')
        ++i;
      tokens.push_back({Kind::String, b, i});
    } else if (c == '%' || c == '@' || c == '#' || c == '!' || c == '^') {
      size_t b = i++;
      while (i < n && isIdent(text[i]))
        ++i;
      tokens.push_back(
          {c == '%' ? Kind::Value : c == '@' ? Kind::Symbol : Kind::Identifier,
           b, i});
    } else if (c == 'x' && i > 0 &&
               (std::isdigit(static_cast<unsigned char>(text[i - 1])) ||
                text[i - 1] == '?')) {
      // The `x` of a shape (`?x8x128xbf16`): the dimensions stay numbers.
      tokens.push_back({Kind::Punct, i, i + 1});
      ++i;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t b = i;
      while (i < n && isIdent(text[i]))
        ++i;
      tokens.push_back({Kind::Identifier, b, i});
    } else {
      tokens.push_back({Kind::Punct, i, i + 1});
      ++i;
    }
  }
  return tokens;
}

const char *const kBoundaries[] = {
    "0", "1", "-1", "2", "3", "4", "7", "8", "15", "16", "17", "31", "32", "33",
    "63", "64", "65", "127", "128", "129", "255", "256", "511", "512", "1023",
    "1024", "2047", "2048", "4095", "4096", "4097", "8191", "8192", "8193",
    "16384", "32768", "65535", "65536", "131072", "1048576", "2147483647",
    "2147483648", "-2147483648", "-2147483649", "4294967295", "4294967296",
    "9223372036854775807", "9223372036854775808", "-9223372036854775808",
    "18446744073709551615", "18446744073709551616"};

const char *const kWords[] = {
    // element types
    "i1", "i8", "i16", "i32", "i64", "index", "f16", "bf16", "f32", "f64",
    "f8E4M3FN", "f8E5M2", "f4E2M1FN",
    // enum cases and mnemonics
    "host", "device", "remote", "request", "kv_head", "max", "sum",
    "mean_query", "lru", "quest", "streaming_llm", "dsa", "cluster_kv",
    "native", "flash_attn_block_table", "flashinfer_csr", "token_indices",
    // op names
    "hsa.layer", "hsa.state", "hsa.prefill", "hsa.append", "hsa.decode_step",
    "hsa.score", "hsa.topk", "hsa.diff", "hsa.gather", "hsa.attend",
    "hsa.update_repr", "hsa.rebuild_repr", "hsa.store_kv", "hsa.fused"};

const char *const kStrings[] = {
    "\"buf.k\"", "\"buf.v\"", "\"buf.last_used\"", "\"buf.slot_unit\"",
    "\"buf.unit_slot\"", "\"host.k\"", "\"host.v\"", "\"host.page_of\"",
    "\"repr.kmin\"", "\"repr.kmax\"", "\"repr.index_keys\"",
    "\"repr.index_scales\"", "\"repr.centroids\"", "\"repr.cluster_of\"",
    "\"req.length\"", "\"req.step\"", "\"req.page_of\"", "\"sel.scores\"",
    "\"sel.units\"", "\"sel.slots\"", "\"sel.copy_units\"",
    "\"sel.copy_slots\"", "\"sel.copy_count\"", "\"scratch.attn_done\"",
    "\"scratch.attn_lse\"", "\"scratch.attn_o\"", "\"scratch.topk_done\"",
    "\"io.q\"", "\"io.o\"", "\"io.new_k\"", "\"io.new_v\"", "\"diff_gather\"",
    "\"score_topk\"", "\"decode_step\"", "\"prefill\"", "\"append\"", "\"\""};

template <typename T, size_t N> const T &pick(Rng &rng, const T (&items)[N]) {
  return items[rng() % N];
}

std::string newNumber(Rng &rng, const std::string &old) {
  if (rng() % 3 != 0)
    return pick(rng, kBoundaries);
  long long value = 0; // saturates far below overflow: the ops below stay defined
  for (char c : old)
    if (std::isdigit(static_cast<unsigned char>(c)) && value < 100000000000000LL)
      value = value * 10 + (c - '0');
  if (!old.empty() && old[0] == '-')
    value = -value;
  switch (rng() % 5) {
  case 0: value += 1; break;
  case 1: value -= 1; break;
  case 2: value *= 2; break;
  case 3: value /= 2; break;
  default: value = -value; break;
  }
  return std::to_string(value);
}

/// One token- or line-level mutation of `text`; false if none applied.
bool mutateOnce(std::string &text, Rng &rng) {
  std::vector<Token> tokens = tokenize(text);
  if (tokens.empty())
    return false;
  const Token t = tokens[rng() % tokens.size()];
  std::string spelling = text.substr(t.begin, t.end - t.begin);
  auto replace = [&](const std::string &with) {
    text.replace(t.begin, t.end - t.begin, with);
  };
  // Another token of the same kind from the input, if there is one.
  auto sameKind = [&]() -> std::string {
    std::vector<const Token *> same;
    for (const Token &o : tokens)
      if (o.kind == t.kind)
        same.push_back(&o);
    const Token *o = same[rng() % same.size()];
    return text.substr(o->begin, o->end - o->begin);
  };

  switch (rng() % 12) {
  case 10:
  case 11: { // every occurrence of a number or a word (head_dim 128 and the
             // shapes that follow from it change together)
    if (t.kind != Kind::Number && t.kind != Kind::Identifier)
      return false;
    std::string with = t.kind == Kind::Number
                           ? newNumber(rng, spelling)
                           : std::string(pick(rng, kWords));
    for (auto it = tokens.rbegin(); it != tokens.rend(); ++it)
      if (it->kind == t.kind &&
          text.compare(it->begin, it->end - it->begin, spelling) == 0)
        text.replace(it->begin, it->end - it->begin, with);
    return true;
  }
  case 0:
  case 1:
  case 2: { // a number, preferably
    std::vector<const Token *> numbers;
    for (const Token &o : tokens)
      if (o.kind == Kind::Number)
        numbers.push_back(&o);
    if (numbers.empty())
      return false;
    const Token *o = numbers[rng() % numbers.size()];
    text.replace(o->begin, o->end - o->begin,
                 newNumber(rng, text.substr(o->begin, o->end - o->begin)));
    return true;
  }
  case 3: // delete the token
    text.erase(t.begin, t.end - t.begin);
    return true;
  case 4: // duplicate it
    text.insert(t.end, " " + spelling);
    return true;
  case 5: // another of its kind
    switch (t.kind) {
    case Kind::Number: replace(newNumber(rng, spelling)); break;
    case Kind::Identifier:
      replace(rng() % 2 ? sameKind() : std::string(pick(rng, kWords)));
      break;
    case Kind::String:
      replace(rng() % 2 ? sameKind() : std::string(pick(rng, kStrings)));
      break;
    case Kind::Punct:
      if (spelling == "?")
        replace(pick(rng, kBoundaries));
      else
        return false;
      break;
    default: replace(sameKind()); break;
    }
    return true;
  case 6: // a dimension becomes dynamic
    if (t.kind == Kind::Number) {
      replace("?");
      return true;
    }
    return false;
  default: { // lines
    std::vector<size_t> starts{0};
    for (size_t i = 0; i < text.size(); ++i)
      if (text[i] == '\n' && i + 1 < text.size())
        starts.push_back(i + 1);
    size_t k = rng() % starts.size();
    size_t b = starts[k];
    size_t e = k + 1 < starts.size() ? starts[k + 1] : text.size();
    std::string line = text.substr(b, e - b);
    if (line.empty() || line.back() != '\n')
      line += '\n';
    switch (rng() % 3) {
    case 0: text.erase(b, e - b); break;
    case 1: text.insert(b, line); break;
    default:
      if (k + 1 < starts.size()) {
        size_t e2 = k + 2 < starts.size() ? starts[k + 2] : text.size();
        std::string next = text.substr(e, e2 - e);
        if (next.empty() || next.back() != '\n')
          next += '\n';
        text.replace(b, e2 - b, next + line);
      }
      break;
    }
    return true;
  }
  }
}

std::vector<std::string> lines(const uint8_t *data, size_t size) {
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 0; i < size; ++i) {
    cur += static_cast<char>(data[i]);
    if (data[i] == '\n') {
      out.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty())
    out.push_back(cur + "\n");
  return out;
}

} // namespace

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size,
                                          size_t maxSize, unsigned int seed) {
  static const bool enabled = hsa::fuzz::envFlag("MUTATOR", true);
  Rng rng(seed);
  if (!enabled || size == 0 || rng() % 2 == 0)
    return LLVMFuzzerMutate(data, size, maxSize);
  std::string text(reinterpret_cast<const char *>(data), size);
  unsigned count = 1 + rng() % 3;
  bool changed = false;
  for (unsigned i = 0; i < count; ++i)
    changed |= mutateOnce(text, rng);
  if (!changed || text.empty() || text.size() > maxSize)
    return LLVMFuzzerMutate(data, size, maxSize);
  std::memcpy(data, text.data(), text.size());
  return text.size();
}

extern "C" size_t LLVMFuzzerCustomCrossOver(const uint8_t *data1, size_t size1,
                                            const uint8_t *data2, size_t size2,
                                            uint8_t *out, size_t maxOutSize,
                                            unsigned int seed) {
  Rng rng(seed);
  std::vector<std::string> a = lines(data1, size1), b = lines(data2, size2);
  if (a.empty() || b.empty())
    return 0;
  // Lines [from, from + count) of the second input go in at line `at` of the
  // first, in place of `drop` of its lines (0: inserted).
  size_t from = rng() % b.size();
  size_t count = std::min<size_t>(1 + rng() % 8, b.size() - from);
  size_t at = rng() % (a.size() + 1);
  size_t drop = std::min<size_t>(rng() % 2 ? 0 : 1 + rng() % 4, a.size() - at);
  std::string text;
  for (size_t i = 0; i < at; ++i)
    text += a[i];
  for (size_t i = 0; i < count; ++i)
    text += b[from + i];
  for (size_t i = at + drop; i < a.size(); ++i)
    text += a[i];
  if (text.size() > maxOutSize)
    return 0;
  std::memcpy(out, text.data(), text.size());
  return text.size();
}
