#include "common/k8s/selectors.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace kubehub::k8s {

namespace {

bool isNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

/// A label value or key name: at most 63 chars, alphanumeric at both ends.
bool validName(std::string_view s, bool allow_empty) {
  if (s.empty()) return allow_empty;
  if (s.size() > 63) return false;
  if (!std::isalnum(static_cast<unsigned char>(s.front())) ||
      !std::isalnum(static_cast<unsigned char>(s.back()))) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), isNameChar);
}

bool validKey(std::string_view key) {
  size_t slash = key.find('/');
  if (slash == std::string_view::npos) return validName(key, false);
  std::string_view prefix = key.substr(0, slash);
  if (prefix.empty() || prefix.size() > 253) return false;
  for (char c : prefix) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.')) {
      return false;
    }
  }
  return validName(key.substr(slash + 1), false);
}

class Lexer {
 public:
  explicit Lexer(std::string_view in) : in_(in) {}
  void skipSpace() {
    while (pos_ < in_.size() && std::isspace(static_cast<unsigned char>(in_[pos_]))) ++pos_;
  }
  bool done() {
    skipSpace();
    return pos_ >= in_.size();
  }
  bool consume(std::string_view tok) {
    skipSpace();
    if (in_.substr(pos_, tok.size()) == tok) {
      pos_ += tok.size();
      return true;
    }
    return false;
  }
  /// A bare word: key or value characters (incl. '/').
  std::string word() {
    skipSpace();
    size_t start = pos_;
    while (pos_ < in_.size() && (isNameChar(in_[pos_]) || in_[pos_] == '/')) ++pos_;
    return std::string(in_.substr(start, pos_ - start));
  }
  /// Keyword `in`/`notin` followed by '(' (so a key named "in" still works elsewhere).
  bool keyword(std::string_view kw) {
    skipSpace();
    size_t save = pos_;
    if (in_.substr(pos_, kw.size()) == kw) {
      pos_ += kw.size();
      size_t after = pos_;
      skipSpace();
      if (pos_ < in_.size() && in_[pos_] == '(' && (after > save)) return true;
    }
    pos_ = save;
    return false;
  }
  char peek() {
    skipSpace();
    return pos_ < in_.size() ? in_[pos_] : '\0';
  }

 private:
  std::string_view in_;
  size_t pos_ = 0;
};

absl::Status bad(std::string_view why) {
  return absl::InvalidArgumentError("unable to parse requirement: " + std::string(why));
}

}  // namespace

absl::StatusOr<LabelSelector> LabelSelector::parse(std::string_view text) {
  LabelSelector sel;
  Lexer lx(text);
  if (lx.done()) return sel;
  for (;;) {
    Requirement r;
    if (lx.consume("!")) {
      r.key = lx.word();
      r.op = Op::kDoesNotExist;
      if (!validKey(r.key)) return bad("invalid label key \"" + r.key + "\"");
    } else {
      r.key = lx.word();
      if (!validKey(r.key)) return bad("invalid label key \"" + r.key + "\"");
      if (lx.consume("==") || lx.consume("=")) {
        r.op = Op::kEquals;
        r.values.push_back(lx.word());
      } else if (lx.consume("!=")) {
        r.op = Op::kNotEquals;
        r.values.push_back(lx.word());
      } else if (lx.consume(">")) {
        r.op = Op::kGreaterThan;
        r.values.push_back(lx.word());
      } else if (lx.consume("<")) {
        r.op = Op::kLessThan;
        r.values.push_back(lx.word());
      } else if (lx.keyword("notin")) {
        r.op = Op::kNotIn;
      } else if (lx.keyword("in")) {
        r.op = Op::kIn;
      } else {
        r.op = Op::kExists;
      }
    }
    if (r.op == Op::kIn || r.op == Op::kNotIn) {
      if (!lx.consume("(")) return bad("expected '('");
      for (;;) {
        std::string v = lx.word();
        if (!validName(v, true)) return bad("invalid label value \"" + v + "\"");
        r.values.push_back(v);
        if (lx.consume(",")) continue;
        if (lx.consume(")")) break;
        return bad("expected ',' or ')'");
      }
    }
    if (r.op == Op::kEquals || r.op == Op::kNotEquals) {
      if (!validName(r.values[0], true)) return bad("invalid label value \"" + r.values[0] + "\"");
    }
    if (r.op == Op::kGreaterThan || r.op == Op::kLessThan) {
      char* end = nullptr;
      std::strtoll(r.values[0].c_str(), &end, 10);
      if (r.values[0].empty() || *end != '\0')
        return bad("for 'Gt', 'Lt' operators, the value must be an integer");
    }
    sel.requirements_.push_back(std::move(r));
    if (lx.done()) break;
    if (!lx.consume(",")) return bad("expected ','");
  }
  return sel;
}

bool LabelSelector::matches(const Labels& labels) const {
  auto find = [&](const std::string& key) -> const std::string* {
    for (const auto& [k, v] : labels) {
      if (k == key) return &v;
    }
    return nullptr;
  };
  for (const auto& r : requirements_) {
    const std::string* v = find(r.key);
    switch (r.op) {
      case Op::kExists:
        if (!v) return false;
        break;
      case Op::kDoesNotExist:
        if (v) return false;
        break;
      case Op::kEquals:
        if (!v || *v != r.values[0]) return false;
        break;
      case Op::kNotEquals:
        if (v && *v == r.values[0]) return false;
        break;
      case Op::kIn:
        if (!v || std::find(r.values.begin(), r.values.end(), *v) == r.values.end()) return false;
        break;
      case Op::kNotIn:
        if (v && std::find(r.values.begin(), r.values.end(), *v) != r.values.end()) return false;
        break;
      case Op::kGreaterThan:
      case Op::kLessThan: {
        if (!v) return false;
        char* end = nullptr;
        long long have = std::strtoll(v->c_str(), &end, 10);
        if (v->empty() || *end != '\0') return false;
        long long want = std::strtoll(r.values[0].c_str(), nullptr, 10);
        if (r.op == Op::kGreaterThan ? !(have > want) : !(have < want)) return false;
        break;
      }
    }
  }
  return true;
}

absl::StatusOr<FieldSelector> FieldSelector::parse(std::string_view text) {
  FieldSelector sel;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(',', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view term = text.substr(pos, end - pos);
    pos = end + 1;
    while (!term.empty() && term.front() == ' ') term.remove_prefix(1);
    while (!term.empty() && term.back() == ' ') term.remove_suffix(1);
    if (term.empty()) continue;
    Term t;
    size_t op = term.find("!=");
    size_t len = 2;
    if (op == std::string_view::npos) {
      op = term.find("==");
      if (op == std::string_view::npos) {
        op = term.find('=');
        len = 1;
      }
    } else {
      t.equal = false;
    }
    if (op == std::string_view::npos || op == 0) {
      return absl::InvalidArgumentError("invalid selector: '" + std::string(text) +
                                        "'; can't understand '" + std::string(term) + "'");
    }
    t.field = std::string(term.substr(0, op));
    t.value = std::string(term.substr(op + len));
    while (!t.field.empty() && t.field.back() == ' ') t.field.pop_back();
    while (!t.value.empty() && t.value.front() == ' ') t.value.erase(t.value.begin());
    if (t.field != "metadata.name" && t.field != "metadata.namespace") {
      return absl::UnimplementedError("field " + t.field + " is evaluated by the edge");
    }
    sel.terms_.push_back(std::move(t));
  }
  return sel;
}

bool FieldSelector::matches(std::string_view ns, std::string_view name) const {
  for (const auto& t : terms_) {
    std::string_view have = t.field == "metadata.name" ? name : ns;
    if ((have == t.value) != t.equal) return false;
  }
  return true;
}

std::optional<std::string> FieldSelector::exactName() const {
  for (const auto& t : terms_) {
    if (t.field == "metadata.name" && t.equal) return t.value;
  }
  return std::nullopt;
}

}  // namespace kubehub::k8s
