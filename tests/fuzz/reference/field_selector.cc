#include "tests/fuzz/reference/field_selector.h"

#include <algorithm>

namespace kubehub::reference {
namespace {

// Splits on commas that are not escaped with a backslash.
std::vector<std::string> splitTerms(std::string_view s) {
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      cur.push_back(s[i]);
      cur.push_back(s[++i]);
    } else if (s[i] == ',') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(s[i]);
    }
  }
  out.push_back(cur);
  return out;
}

absl::StatusOr<std::string> unescape(std::string_view v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\\') {
      if (i + 1 >= v.size() || (v[i + 1] != '\\' && v[i + 1] != ',' && v[i + 1] != '=')) {
        return absl::InvalidArgumentError(
            "invalid field selector: invalid escape sequence in value: " + std::string(v));
      }
      out.push_back(v[++i]);
    } else if (v[i] == ',' || v[i] == '=') {
      return absl::InvalidArgumentError("invalid field selector: unescaped " +
                                        std::string(1, v[i]) + " in value: " + std::string(v));
    } else {
      out.push_back(v[i]);
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<FieldSelector> FieldSelector::parse(std::string_view text) {
  FieldSelector sel;
  if (text.empty()) return sel;
  for (const std::string& term : splitTerms(text)) {
    if (term.empty()) continue;
    Requirement r;
    bool found = false;
    for (size_t i = 0; i < term.size() && !found; ++i) {
      std::string_view rest = std::string_view(term).substr(i);
      for (std::string_view op : {"!=", "==", "="}) {
        if (rest.starts_with(op)) {
          r.field = term.substr(0, i);
          r.negated = op == "!=";
          auto v = unescape(rest.substr(op.size()));
          if (!v.ok()) return v.status();
          r.value = *v;
          found = true;
          break;
        }
      }
    }
    if (!found) {
      return absl::InvalidArgumentError("invalid selector: '" + std::string(text) +
                                        "'; can't understand '" + term + "'");
    }
    sel.requirements_.push_back(std::move(r));
  }
  return sel;
}

bool FieldSelector::matches(const std::map<std::string, std::string>& fields) const {
  for (const Requirement& r : requirements_) {
    auto it = fields.find(r.field);
    bool equal = (it == fields.end() ? std::string() : it->second) == r.value;
    if (equal == r.negated) return false;
  }
  return true;
}

}  // namespace kubehub::reference
