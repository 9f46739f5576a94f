#include "common/k8s/field_selector.h"

#include <algorithm>

#include "common/k8s/api_error.h"

namespace kubehub::k8s {

namespace {

// Terms split at commas not escaped by a backslash; the backslashes stay.
std::vector<std::string_view> splitTerms(std::string_view s) {
  std::vector<std::string_view> terms;
  if (s.empty()) return terms;
  size_t start = 0;
  bool in_slash = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (in_slash) {
      in_slash = false;
    } else if (s[i] == '\\') {
      in_slash = true;
    } else if (s[i] == ',') {
      terms.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  terms.push_back(s.substr(start));
  return terms;
}

// One UTF-8 sequence at s[i] as Go's range loop sees it: its bytes, or U+FFFD when invalid.
std::string_view runeAt(std::string_view s, size_t i, size_t* len) {
  auto b = static_cast<unsigned char>(s[i]);
  size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
  bool ok = n > 0 && i + n <= s.size();
  uint32_t v = n == 1 ? b : n == 2 ? (b & 0x1f) : n == 3 ? (b & 0x0f) : (b & 0x07);
  for (size_t k = 1; ok && k < n; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    ok = (c >> 6) == 2;
    v = (v << 6) | (c & 0x3f);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (ok && (v < kMin[n] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))) ok = false;
  if (!ok) {
    *len = 1;
    return "\xef\xbf\xbd";
  }
  *len = n;
  return s.substr(i, n);
}

absl::StatusOr<std::string> unescapeValue(std::string_view s) {
  if (s.find_first_of("\\,=") == std::string_view::npos) return std::string(s);
  std::string out;
  bool in_slash = false;
  for (size_t i = 0; i < s.size();) {
    size_t n = 1;
    std::string_view r = runeAt(s, i, &n);
    i += n;
    if (in_slash) {
      if (r != "\\" && r != "," && r != "=") {
        return badRequest("invalid field selector: invalid escape sequence: \\" + std::string(r));
      }
      out += r;
      in_slash = false;
      continue;
    }
    if (r == "\\") {
      in_slash = true;
    } else if (r == "," || r == "=") {
      return badRequest("invalid field selector: unescaped character in value: " +
                        std::to_string(static_cast<int>(r[0])));
    } else {
      out += r;
    }
  }
  if (in_slash) return badRequest("invalid field selector: invalid escape sequence: \\");
  return out;
}

}  // namespace

absl::StatusOr<FieldSelector> FieldSelector::parse(std::string_view text) {
  FieldSelector sel;
  std::vector<std::string_view> parts = splitTerms(text);
  std::sort(parts.begin(), parts.end());
  for (std::string_view part : parts) {
    if (part.empty()) continue;
    size_t at = std::string_view::npos;
    size_t op_len = 0;
    for (size_t i = 0; i < part.size() && at == std::string_view::npos; ++i) {
      std::string_view rest = part.substr(i);
      for (std::string_view op : {"!=", "==", "="}) {
        if (rest.starts_with(op)) {
          at = i;
          op_len = op.size();
          break;
        }
      }
    }
    if (at == std::string_view::npos) {
      return badRequest("invalid selector: '" + std::string(text) + "'; can't understand '" +
                        std::string(part) + "'");
    }
    auto value = unescapeValue(part.substr(at + op_len));
    if (!value.ok()) return value.status();
    sel.terms_.push_back(
        Term{std::string(part.substr(0, at)), part.substr(at, op_len) != "!=", std::move(*value)});
  }
  return sel;
}

FieldSelector FieldSelector::oneTermEqual(std::string field, std::string value) {
  FieldSelector sel;
  sel.terms_.push_back(Term{std::move(field), true, std::move(value)});
  return sel;
}

std::optional<std::string> FieldSelector::requiresExactMatch(std::string_view field) const {
  for (const Term& t : terms_) {
    if (t.equal && t.field == field) return t.value;
  }
  return std::nullopt;
}

void FieldSelector::add(const FieldSelector& other) {
  terms_.insert(terms_.end(), other.terms_.begin(), other.terms_.end());
}

std::string escapeFieldValue(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == ',' || c == '=') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace kubehub::k8s
