#include "common/auth/label_selector.h"

#include <algorithm>

namespace kubehub::auth {

namespace {

bool alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool isQualifiedName(std::string_view s) {
  if (s.empty() || s.size() > 63 || !alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return alnum(c) || c == '-' || c == '_' || c == '.'; });
}

bool isDnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (start <= s.size()) {
    size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (label.empty() || label.size() > 63) return false;
    auto lower = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!lower(label.front()) || !lower(label.back())) return false;
    for (char c : label) {
      if (!lower(c) && c != '-') return false;
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}
  void skipSpace() {
    while (pos_ < text_.size() && text_[pos_] == ' ') ++pos_;
  }
  bool done() {
    skipSpace();
    return pos_ >= text_.size();
  }
  bool consume(std::string_view token) {
    skipSpace();
    if (text_.substr(pos_).starts_with(token)) {
      pos_ += token.size();
      return true;
    }
    return false;
  }
  /// A run of characters that may form a key or value.
  std::string_view word() {
    skipSpace();
    size_t start = pos_;
    while (pos_ < text_.size() && (alnum(text_[pos_]) || text_[pos_] == '-' || text_[pos_] == '_' ||
                                   text_[pos_] == '.' || text_[pos_] == '/')) {
      ++pos_;
    }
    return text_.substr(start, pos_ - start);
  }
  /// A keyword (in, notin) must be followed by space or '('.
  bool keyword(std::string_view kw) {
    skipSpace();
    if (!text_.substr(pos_).starts_with(kw)) return false;
    size_t after = pos_ + kw.size();
    if (after < text_.size() && text_[after] != ' ' && text_[after] != '(') return false;
    pos_ = after;
    return true;
  }
  size_t pos() const { return pos_; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

absl::Status syntaxError(std::string_view text, size_t pos, std::string_view what) {
  return absl::InvalidArgumentError("invalid label selector \"" + std::string(text) + "\" at " +
                                    std::to_string(pos) + ": " + std::string(what));
}

}  // namespace

bool isLabelKey(std::string_view key) {
  size_t slash = key.find('/');
  if (slash == std::string_view::npos) return isQualifiedName(key);
  return isDnsSubdomain(key.substr(0, slash)) && isQualifiedName(key.substr(slash + 1));
}

bool isLabelValue(std::string_view value) { return value.empty() || isQualifiedName(value); }

absl::StatusOr<LabelSelector> LabelSelector::parse(std::string_view text) {
  LabelSelector sel;
  if (text.size() > 4096) return absl::InvalidArgumentError("label selector is too long");
  Lexer lx(text);
  if (lx.done()) return sel;
  for (;;) {
    Requirement r;
    bool negated = lx.consume("!");
    std::string_view key = lx.word();
    if (!isLabelKey(key)) return syntaxError(text, lx.pos(), "expected a label key");
    r.key = std::string(key);
    if (negated) {
      r.op = Op::kNotExists;
    } else if (lx.consume("==") || lx.consume("=")) {
      r.op = Op::kEquals;
    } else if (lx.consume("!=")) {
      r.op = Op::kNotEquals;
    } else if (lx.keyword("notin")) {
      r.op = Op::kNotIn;
    } else if (lx.keyword("in")) {
      r.op = Op::kIn;
    } else {
      r.op = Op::kExists;
    }
    if (r.op == Op::kEquals || r.op == Op::kNotEquals) {
      std::string_view value = lx.word();
      if (!isLabelValue(value) || value.find('/') != std::string_view::npos) {
        return syntaxError(text, lx.pos(), "expected a label value");
      }
      r.values.emplace_back(value);
    } else if (r.op == Op::kIn || r.op == Op::kNotIn) {
      if (!lx.consume("(")) return syntaxError(text, lx.pos(), "expected '('");
      for (;;) {
        std::string_view value = lx.word();
        if (value.empty() || !isLabelValue(value) || value.find('/') != std::string_view::npos) {
          return syntaxError(text, lx.pos(), "expected a label value");
        }
        r.values.emplace_back(value);
        if (lx.consume(")")) break;
        if (!lx.consume(",")) return syntaxError(text, lx.pos(), "expected ',' or ')'");
      }
      std::sort(r.values.begin(), r.values.end());
      r.values.erase(std::unique(r.values.begin(), r.values.end()), r.values.end());
    }
    sel.requirements_.push_back(std::move(r));
    if (lx.done()) break;
    if (!lx.consume(",")) return syntaxError(text, lx.pos(), "expected ','");
  }
  return sel;
}

bool LabelSelector::matches(const Labels& labels) const {
  for (const Requirement& r : requirements_) {
    auto it = labels.find(r.key);
    bool has = it != labels.end();
    auto in = [&] {
      return has && std::binary_search(r.values.begin(), r.values.end(), it->second);
    };
    switch (r.op) {
      case Op::kExists:
        if (!has) return false;
        break;
      case Op::kNotExists:
        if (has) return false;
        break;
      case Op::kEquals:
        if (!has || it->second != r.values.front()) return false;
        break;
      case Op::kNotEquals:
        if (has && it->second == r.values.front()) return false;
        break;
      case Op::kIn:
        if (!in()) return false;
        break;
      case Op::kNotIn:
        if (in()) return false;
        break;
    }
  }
  return true;
}

std::string LabelSelector::str() const {
  std::string out;
  for (const Requirement& r : requirements_) {
    if (!out.empty()) out += ",";
    auto list = [&] {
      std::string s = " (";
      for (size_t i = 0; i < r.values.size(); ++i) s += (i ? "," : "") + r.values[i];
      return s + ")";
    };
    switch (r.op) {
      case Op::kExists:
        out += r.key;
        break;
      case Op::kNotExists:
        out += "!" + r.key;
        break;
      case Op::kEquals:
        out += r.key + "=" + r.values.front();
        break;
      case Op::kNotEquals:
        out += r.key + "!=" + r.values.front();
        break;
      case Op::kIn:
        out += r.key + " in" + list();
        break;
      case Op::kNotIn:
        out += r.key + " notin" + list();
        break;
    }
  }
  return out;
}

}  // namespace kubehub::auth
