#include "tests/fuzz/reference/label_selector.h"

#include <algorithm>
#include <cctype>

namespace kubehub::reference {
namespace {

enum class Tok {
  kIdentifier,
  kEnd,
  kComma,
  kOpenParen,
  kCloseParen,
  kEquals,
  kDoubleEquals,
  kNotEquals,
  kNot,
  kGreater,
  kLess,
  kIn,
  kNotIn,
};

struct Token {
  Tok type;
  std::string text;
};

bool isSpecial(char c) {
  return c == '!' || c == '(' || c == ')' || c == ',' || c == '=' || c == '>' || c == '<';
}

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Splits the text like the lexer in k8s.io/apimachinery/pkg/labels/selector.go.
std::vector<Token> lex(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (isSpace(c)) {
      ++i;
      continue;
    }
    if (c == '\0') break;  // a NUL where a token would start ends the input
    if (isSpecial(c)) {
      std::string_view two = s.substr(i, 2);
      if (two == "==") {
        out.push_back({Tok::kDoubleEquals, "=="});
        i += 2;
      } else if (two == "!=") {
        out.push_back({Tok::kNotEquals, "!="});
        i += 2;
      } else {
        Tok t = c == '!'   ? Tok::kNot
                : c == '(' ? Tok::kOpenParen
                : c == ')' ? Tok::kCloseParen
                : c == ',' ? Tok::kComma
                : c == '=' ? Tok::kEquals
                : c == '>' ? Tok::kGreater
                           : Tok::kLess;
        out.push_back({t, std::string(1, c)});
        ++i;
      }
      if (i < s.size() && s[i] == '\0') ++i;  // the server's symbol scan consumes a NUL too
      continue;
    }
    size_t start = i;
    while (i < s.size() && !isSpace(s[i]) && !isSpecial(s[i]) && s[i] != '\0') ++i;
    std::string word(s.substr(start, i - start));
    if (i < s.size() && s[i] == '\0') ++i;  // a NUL inside a word ends the word, consumed
    if (word == "in") {
      out.push_back({Tok::kIn, word});
    } else if (word == "notin") {
      out.push_back({Tok::kNotIn, word});
    } else {
      out.push_back({Tok::kIdentifier, word});
    }
  }
  out.push_back({Tok::kEnd, ""});
  return out;
}

// Keys and values may be spelled like the operators `in` and `notin`.
bool isWord(Tok t) { return t == Tok::kIdentifier || t == Tok::kIn || t == Tok::kNotIn; }

// A strict base-10 int64 (an optional sign, then digits only).
bool parseInt(const std::string& s, int64_t* out) {
  size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
  if (i == s.size()) return false;
  __int128 v = 0;
  for (size_t k = i; k < s.size(); ++k) {
    if (s[k] < '0' || s[k] > '9') return false;
    v = v * 10 + (s[k] - '0');
    if (v > (static_cast<__int128>(1) << 64)) return false;
  }
  if (s[0] == '-') v = -v;
  if (v > INT64_MAX || v < INT64_MIN) return false;
  *out = static_cast<int64_t>(v);
  return true;
}

bool isAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// The name part of a qualified name: ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], at most 63.
bool validNamePart(std::string_view n) {
  if (n.empty() || n.size() > 63) return false;
  if (!isAlnum(n.front()) || !isAlnum(n.back())) return false;
  return std::all_of(n.begin(), n.end(),
                     [](char c) { return isAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

bool validDnsSubdomain(std::string_view p) {
  if (p.empty() || p.size() > 253) return false;
  size_t start = 0;
  while (start <= p.size()) {
    size_t dot = p.find('.', start);
    std::string_view label = p.substr(start, dot == std::string_view::npos ? p.npos : dot - start);
    if (label.empty()) return false;
    for (char c : label) {
      if (!(std::islower(static_cast<unsigned char>(c)) ||
            std::isdigit(static_cast<unsigned char>(c)) || c == '-')) {
        return false;
      }
    }
    if (label.front() == '-' || label.back() == '-') return false;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

constexpr char kNameMsg[] =
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used "
    "for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
constexpr char kValueMsg[] =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

absl::Status validateKey(const std::string& key) {
  std::string_view name = key;
  size_t slash = key.find('/');
  if (slash != std::string::npos) {
    std::string_view prefix = std::string_view(key).substr(0, slash);
    name = std::string_view(key).substr(slash + 1);
    if (!validDnsSubdomain(prefix)) {
      return absl::InvalidArgumentError(
          "unable to parse requirement: <nil>: Invalid value: \"" + key +
          "\": prefix part a lowercase RFC 1123 subdomain must consist of lower "
          "case alphanumeric characters, '-' or '.', and must start and end with "
          "an alphanumeric character");
    }
  }
  if (!validNamePart(name)) {
    return absl::InvalidArgumentError("unable to parse requirement: <nil>: Invalid value: \"" +
                                      key + "\": " + kNameMsg);
  }
  return absl::OkStatus();
}

absl::Status validateValue(const std::string& key, const std::string& value) {
  if (value.empty()) return absl::OkStatus();
  if (!validNamePart(value)) {
    return absl::InvalidArgumentError("unable to parse requirement: values[0][" + key +
                                      "]: Invalid value: \"" + value + "\": " + kValueMsg);
  }
  return absl::OkStatus();
}

absl::Status unexpected(const Token& t, std::string_view expected) {
  return absl::InvalidArgumentError("unable to parse requirement: found '" + t.text +
                                    "', expected: " + std::string(expected));
}

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : toks_(std::move(toks)) {}

  absl::StatusOr<std::vector<LabelSelector::Requirement>> parse() {
    std::vector<LabelSelector::Requirement> out;
    if (peek().type == Tok::kEnd) return out;
    while (true) {
      auto r = requirement();
      if (!r.ok()) return r.status();
      out.push_back(std::move(*r));
      const Token& t = next();
      if (t.type == Tok::kEnd) break;
      if (t.type != Tok::kComma) return unexpected(t, "',' or 'end of string'");
      if (!isWord(peek().type) && peek().type != Tok::kNot) return unexpected(peek(), "identifier");
    }
    return out;
  }

 private:
  const Token& peek() const { return toks_[pos_]; }
  const Token& next() {
    const Token& t = toks_[pos_];
    if (pos_ + 1 < toks_.size()) ++pos_;
    return t;
  }

  absl::StatusOr<LabelSelector::Requirement> requirement() {
    LabelSelector::Requirement r;
    bool negated = false;
    if (peek().type == Tok::kNot) {
      next();
      negated = true;
    }
    const Token& key = next();
    if (!isWord(key.type)) return unexpected(key, "identifier");
    r.key = key.text;
    if (auto s = validateKey(r.key); !s.ok()) return s;
    Tok t = peek().type;
    if (negated || t == Tok::kComma || t == Tok::kEnd) {
      if (negated && !(t == Tok::kComma || t == Tok::kEnd)) {
        return unexpected(peek(), "',' or 'end of string'");
      }
      r.op = negated ? LabelSelector::Op::kDoesNotExist : LabelSelector::Op::kExists;
      return r;
    }
    const Token& op = next();
    switch (op.type) {
      case Tok::kEquals:
      case Tok::kDoubleEquals:
        r.op = LabelSelector::Op::kEquals;
        break;
      case Tok::kNotEquals:
        r.op = LabelSelector::Op::kNotEquals;
        break;
      case Tok::kGreater:
        r.op = LabelSelector::Op::kGreater;
        break;
      case Tok::kLess:
        r.op = LabelSelector::Op::kLess;
        break;
      case Tok::kIn:
        r.op = LabelSelector::Op::kIn;
        break;
      case Tok::kNotIn:
        r.op = LabelSelector::Op::kNotIn;
        break;
      default:
        return unexpected(op, "=, !=, ==, >, <, in, notin");
    }
    if (r.op == LabelSelector::Op::kIn || r.op == LabelSelector::Op::kNotIn) {
      const Token& open = next();
      if (open.type != Tok::kOpenParen) return unexpected(open, "'('");
      // Values: identifiers separated by commas; an empty value is allowed ("in (a,)").
      bool expect_value = true;
      while (true) {
        const Token& v = peek();
        if (v.type == Tok::kCloseParen) {
          next();
          if (expect_value && !r.values.empty()) r.values.push_back("");
          break;
        }
        if (v.type == Tok::kComma) {
          next();
          if (expect_value) r.values.push_back("");
          expect_value = true;
          continue;
        }
        if (isWord(v.type) && expect_value) {
          r.values.push_back(v.text);
          next();
          expect_value = false;
          continue;
        }
        return unexpected(v, "',', ')' or identifier");
      }
      if (r.values.empty()) r.values.push_back("");
    } else {
      const Token& v = peek();
      if (isWord(v.type)) {
        r.values.push_back(v.text);
        next();
      } else if (v.type == Tok::kComma || v.type == Tok::kEnd) {
        r.values.push_back("");  // `k=` selects an empty value
      } else {
        return unexpected(v, "identifier");
      }
      if (r.op == LabelSelector::Op::kGreater || r.op == LabelSelector::Op::kLess) {
        int64_t n = 0;
        if (!parseInt(r.values[0], &n)) {
          return absl::InvalidArgumentError(
              "unable to parse requirement: <nil>: Invalid value: \"" + r.values[0] +
              "\": for 'Gt', 'Lt' operators, the value must be an "
              "integer");
        }
      }
    }
    for (const std::string& v : r.values) {
      if (auto s = validateValue(r.key, v); !s.ok()) return s;
    }
    return r;
  }

  std::vector<Token> toks_;
  size_t pos_ = 0;
};

const std::string* labelValue(const std::map<std::string, std::string>& labels,
                              const std::string& key) {
  auto it = labels.find(key);
  return it == labels.end() ? nullptr : &it->second;
}

}  // namespace

absl::StatusOr<LabelSelector> LabelSelector::parse(std::string_view text) {
  Parser p(lex(text));
  auto reqs = p.parse();
  if (!reqs.ok()) return reqs.status();
  LabelSelector s;
  s.requirements_ = std::move(*reqs);
  return s;
}

bool LabelSelector::matches(const std::map<std::string, std::string>& labels) const {
  for (const Requirement& r : requirements_) {
    const std::string* v = labelValue(labels, r.key);
    bool in_set = v != nullptr && std::find(r.values.begin(), r.values.end(), *v) != r.values.end();
    switch (r.op) {
      case Op::kIn:
      case Op::kEquals:
        if (!in_set) return false;
        break;
      case Op::kNotIn:
      case Op::kNotEquals:
        if (in_set) return false;
        break;
      case Op::kExists:
        if (v == nullptr) return false;
        break;
      case Op::kDoesNotExist:
        if (v != nullptr) return false;
        break;
      case Op::kGreater:
      case Op::kLess: {
        int64_t have = 0;
        int64_t want = 0;
        if (v == nullptr || !parseInt(*v, &have) || !parseInt(r.values[0], &want)) {
          return false;
        }
        if (r.op == Op::kGreater ? !(have > want) : !(have < want)) return false;
        break;
      }
    }
  }
  return true;
}

}  // namespace kubehub::reference
