#include "common/k8s/label_selector.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/k8s/api_error.h"
#include "common/k8s/validation.h"

namespace kubehub::k8s {

namespace {

// ---- label set views ----------------------------------------------------------------------

std::optional<std::string_view> findInMap(const void* p, std::string_view key) {
  const auto& m = *static_cast<const LabelMap*>(p);
  auto it = m.find(key);
  if (it == m.end()) return std::nullopt;
  return std::string_view(it->second);
}

std::optional<std::string_view> findInPairs(const void* p, std::string_view key) {
  for (const auto& [k, v] : *static_cast<const Labels*>(p)) {
    if (k == key) return std::string_view(v);
  }
  return std::nullopt;
}

template <class Json>
std::optional<std::string_view> findInJson(const void* p, std::string_view key) {
  const auto* j = static_cast<const Json*>(p);
  if (j == nullptr || !j->is_object()) return std::nullopt;
  auto it = j->find(key);
  if (it == j->end() || !it->is_string()) return std::nullopt;
  return std::string_view(it->template get_ref<const std::string&>());
}

// ---- lexer (k8s.io/apimachinery/pkg/labels: bytes, a NUL ends the input) ------------------

enum class Tok {
  kError,
  kEnd,
  kClosedPar,
  kComma,
  kDoesNotExist,
  kDoubleEquals,
  kEquals,
  kGreaterThan,
  kIdentifier,
  kIn,
  kLessThan,
  kNotEquals,
  kNotIn,
  kOpenPar,
};

struct Item {
  Tok tok;
  std::string lit;
};

bool isWhitespace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool isSpecial(char c) {
  return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
}

std::optional<Tok> literalToken(std::string_view s) {
  if (s == ")") return Tok::kClosedPar;
  if (s == ",") return Tok::kComma;
  if (s == "!") return Tok::kDoesNotExist;
  if (s == "==") return Tok::kDoubleEquals;
  if (s == "=") return Tok::kEquals;
  if (s == ">") return Tok::kGreaterThan;
  if (s == "in") return Tok::kIn;
  if (s == "<") return Tok::kLessThan;
  if (s == "!=") return Tok::kNotEquals;
  if (s == "notin") return Tok::kNotIn;
  if (s == "(") return Tok::kOpenPar;
  return std::nullopt;
}

std::vector<Item> scan(std::string_view s) {
  std::vector<Item> items;
  size_t pos = 0;
  auto read = [&]() -> char { return pos < s.size() ? s[pos++] : '\0'; };
  for (;;) {
    char ch = read();
    while (isWhitespace(ch)) ch = read();
    if (ch == '\0') {
      items.push_back({Tok::kEnd, ""});
      return items;
    }
    --pos;
    std::string buf;
    if (isSpecial(ch)) {
      std::optional<Item> last;
      for (;;) {
        char c = read();
        if (c == '\0') break;
        if (!isSpecial(c)) {
          --pos;
          break;
        }
        buf.push_back(c);
        if (auto t = literalToken(buf)) {
          last = Item{*t, buf};
        } else if (last) {
          --pos;
          break;
        }
      }
      items.push_back(last ? *last
                           : Item{Tok::kError, "error expected: keyword found '" + buf + "'"});
      continue;
    }
    for (;;) {
      char c = read();
      if (c == '\0') break;
      if (isSpecial(c) || isWhitespace(c)) {
        --pos;
        break;
      }
      buf.push_back(c);
    }
    auto t = literalToken(buf);
    items.push_back({t ? *t : Tok::kIdentifier, buf});
  }
}

// ---- parser -------------------------------------------------------------------------------

using Op = LabelSelector::Op;

struct ParseError {
  std::string message;
};

std::optional<std::string> validateKey(const std::string& key, std::string_view path) {
  auto errs = isQualifiedName(key);
  if (errs.empty()) return std::nullopt;
  return fieldInvalid(path, goQuote(key), joinDetails(errs)).str();
}

class Parser {
 public:
  explicit Parser(std::string_view text) : items_(scan(text)) {}

  // Returns the error message, or "" with `out` filled.
  std::string parse(std::vector<LabelSelector::Requirement>* out) {
    for (;;) {
      auto [tok, lit] = lookahead(true);
      if (tok == Tok::kIdentifier || tok == Tok::kDoesNotExist) {
        std::string err = requirement(out);
        if (!err.empty()) return "unable to parse requirement: " + err;
        auto [t, l] = consume(true);
        if (t == Tok::kEnd) return "";
        if (t != Tok::kComma) return "found '" + l + "', expected: ',' or 'end of string'";
        auto [t2, l2] = lookahead(true);
        if (t2 != Tok::kIdentifier && t2 != Tok::kDoesNotExist) {
          return "found '" + l2 + "', expected: identifier after ','";
        }
      } else if (tok == Tok::kEnd) {
        return "";
      } else {
        return "found '" + lit + "', expected: !, identifier, or 'end of string'";
      }
    }
  }

 private:
  // In value context, `in` and `notin` are identifiers.
  static Item contextual(Item it, bool values) {
    if (values && (it.tok == Tok::kIn || it.tok == Tok::kNotIn)) it.tok = Tok::kIdentifier;
    return it;
  }
  Item lookahead(bool values) const { return contextual(items_[pos_], values); }
  Item consume(bool values) {
    Item it = contextual(items_[pos_], values);
    if (pos_ + 1 < items_.size()) ++pos_;
    return it;
  }

  std::string requirement(std::vector<LabelSelector::Requirement>* out) {
    LabelSelector::Requirement r;
    bool negated = false;
    Item key = consume(true);
    if (key.tok == Tok::kDoesNotExist) {
      negated = true;
      key = consume(true);
    }
    if (key.tok != Tok::kIdentifier) return "found '" + key.lit + "', expected: identifier";
    if (auto err = validateKey(key.lit, "<nil>")) return *err;
    r.key = key.lit;
    Tok next = lookahead(true).tok;
    if (negated || next == Tok::kEnd || next == Tok::kComma) {
      r.op = negated ? Op::kDoesNotExist : Op::kExists;
      return finish(std::move(r), out);
    }
    auto [op_tok, op_lit] = consume(false);
    switch (op_tok) {
      case Tok::kIn:
        r.op = Op::kIn;
        break;
      case Tok::kEquals:
        r.op = Op::kEquals;
        break;
      case Tok::kDoubleEquals:
        r.op = Op::kDoubleEquals;
        break;
      case Tok::kGreaterThan:
        r.op = Op::kGreaterThan;
        break;
      case Tok::kLessThan:
        r.op = Op::kLessThan;
        break;
      case Tok::kNotIn:
        r.op = Op::kNotIn;
        break;
      case Tok::kNotEquals:
        r.op = Op::kNotEquals;
        break;
      default:
        return "found '" + op_lit + "', expected: in, notin, =, ==, !=, gt, lt";
    }
    std::string err =
        (r.op == Op::kIn || r.op == Op::kNotIn) ? values(&r.values) : exactValue(&r.values);
    if (!err.empty()) return err;
    std::sort(r.values.begin(), r.values.end());
    r.values.erase(std::unique(r.values.begin(), r.values.end()), r.values.end());
    return finish(std::move(r), out);
  }

  std::string values(std::vector<std::string>* out) {
    Item open = consume(true);
    if (open.tok != Tok::kOpenPar) return "found '" + open.lit + "' expected: '('";
    Item first = lookahead(true);
    if (first.tok == Tok::kClosedPar) {
      consume(true);
      out->push_back("");
      return "";
    }
    if (first.tok != Tok::kIdentifier && first.tok != Tok::kComma) {
      return "found '" + first.lit + "', expected: ',', ')' or identifier";
    }
    for (;;) {
      auto [t, l] = consume(true);
      if (t == Tok::kIdentifier) {
        out->push_back(l);
        auto [t2, l2] = lookahead(true);
        if (t2 == Tok::kComma) continue;
        if (t2 == Tok::kClosedPar) break;
        return "found '" + l2 + "', expected: ',' or ')'";
      }
      if (t == Tok::kComma) {
        if (out->empty()) out->push_back("");
        Tok t2 = lookahead(true).tok;
        if (t2 == Tok::kClosedPar) {
          out->push_back("");
          break;
        }
        if (t2 == Tok::kComma) out->push_back("");
        continue;
      }
      return "found '" + l + "', expected: ',', or identifier";
    }
    consume(true);  // the ')' seen above
    return "";
  }

  std::string exactValue(std::vector<std::string>* out) {
    Tok t = lookahead(true).tok;
    if (t == Tok::kEnd || t == Tok::kComma) {
      out->push_back("");
      return "";
    }
    auto [tok, lit] = consume(true);
    if (tok != Tok::kIdentifier) return "found '" + lit + "', expected: identifier";
    out->push_back(lit);
    return "";
  }

  // NewRequirement's checks; every problem is reported.
  static std::string finish(LabelSelector::Requirement r,
                            std::vector<LabelSelector::Requirement>* out) {
    std::vector<std::string> errs;
    const auto& vals = r.values;
    switch (r.op) {
      case Op::kIn:
      case Op::kNotIn:
        if (vals.empty()) {
          errs.push_back(
              fieldInvalid("values", "[]", "for 'in', 'notin' operators, values set can't be empty")
                  .str());
        }
        break;
      case Op::kGreaterThan:
      case Op::kLessThan:
        for (size_t i = 0; i < vals.size(); ++i) {
          int64_t n = 0;
          if (!parseInt64(vals[i], &n).empty()) {
            errs.push_back(fieldInvalid("values[" + std::to_string(i) + "]", goQuote(vals[i]),
                                        "for 'Gt', 'Lt' operators, the value must be an integer")
                               .str());
          }
        }
        break;
      default:
        break;
    }
    for (size_t i = 0; i < vals.size(); ++i) {
      auto bad = isLabelValue(vals[i]);
      if (!bad.empty()) {
        errs.push_back(fieldInvalid("values[" + std::to_string(i) + "][" + r.key + "]",
                                    goQuote(vals[i]), joinDetails(bad))
                           .str());
      }
    }
    if (!errs.empty()) return aggregate(errs);
    out->push_back(std::move(r));
    return "";
  }

  std::vector<Item> items_;
  size_t pos_ = 0;
};

}  // namespace

LabelView::LabelView(const LabelMap& labels) : labels_(&labels), find_(findInMap) {}
LabelView::LabelView(const Labels& labels) : labels_(&labels), find_(findInPairs) {}
LabelView::LabelView(const nlohmann::json* json)
    : labels_(json), find_(findInJson<nlohmann::json>) {}
LabelView::LabelView(const nlohmann::ordered_json* json)
    : labels_(json), find_(findInJson<nlohmann::ordered_json>) {}

bool LabelSelector::Requirement::matches(LabelView labels) const {
  auto v = labels.find(key);
  auto has = [&](std::string_view x) {
    return std::binary_search(values.begin(), values.end(), x);
  };
  switch (op) {
    case Op::kIn:
    case Op::kEquals:
    case Op::kDoubleEquals:
      return v.has_value() && has(*v);
    case Op::kNotIn:
    case Op::kNotEquals:
      return !v.has_value() || !has(*v);
    case Op::kExists:
      return v.has_value();
    case Op::kDoesNotExist:
      return !v.has_value();
    case Op::kGreaterThan:
    case Op::kLessThan: {
      if (!v.has_value() || values.size() != 1) return false;
      int64_t have = 0;
      int64_t want = 0;
      if (!parseInt64(*v, &have).empty() || !parseInt64(values[0], &want).empty()) return false;
      return op == Op::kGreaterThan ? have > want : have < want;
    }
  }
  return false;
}

std::string LabelSelector::Requirement::str() const {
  std::string out;
  if (op == Op::kDoesNotExist) out += "!";
  out += key;
  switch (op) {
    case Op::kExists:
    case Op::kDoesNotExist:
      return out;
    case Op::kEquals:
      out += "=";
      break;
    case Op::kDoubleEquals:
      out += "==";
      break;
    case Op::kNotEquals:
      out += "!=";
      break;
    case Op::kIn:
      out += " in (";
      break;
    case Op::kNotIn:
      out += " notin (";
      break;
    case Op::kGreaterThan:
      out += ">";
      break;
    case Op::kLessThan:
      out += "<";
      break;
  }
  for (size_t i = 0; i < values.size(); ++i) out += (i ? "," : "") + values[i];
  if (op == Op::kIn || op == Op::kNotIn) out += ")";
  return out;
}

absl::StatusOr<LabelSelector> LabelSelector::parse(std::string_view text) {
  LabelSelector sel;
  Parser p(text);
  std::string err = p.parse(&sel.requirements_);
  if (!err.empty()) return badRequest(err);
  std::stable_sort(sel.requirements_.begin(), sel.requirements_.end(),
                   [](const Requirement& a, const Requirement& b) { return a.key < b.key; });
  return sel;
}

bool LabelSelector::matches(LabelView labels) const {
  for (const Requirement& r : requirements_) {
    if (!r.matches(labels)) return false;
  }
  return true;
}

std::optional<std::string> LabelSelector::requiresExactMatch(std::string_view key) const {
  for (const Requirement& r : requirements_) {
    if (r.key != key) continue;
    if ((r.op == Op::kEquals || r.op == Op::kDoubleEquals || r.op == Op::kIn) &&
        r.values.size() == 1) {
      return r.values.front();
    }
  }
  return std::nullopt;
}

std::string LabelSelector::str() const {
  std::string out;
  for (size_t i = 0; i < requirements_.size(); ++i) {
    out += (i ? "," : "") + requirements_[i].str();
  }
  return out;
}

}  // namespace kubehub::k8s
