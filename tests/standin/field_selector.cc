#include "tests/standin/field_selector.h"

#include <algorithm>

#include "tests/standin/api_error.h"

namespace kubehub::standin {
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
        return badRequest("invalid field selector: invalid escape sequence in value: " +
                          std::string(v));
      }
      out.push_back(v[++i]);
    } else if (v[i] == ',' || v[i] == '=') {
      return badRequest("invalid field selector: unescaped " + std::string(1, v[i]) +
                        " in value: " + std::string(v));
    } else {
      out.push_back(v[i]);
    }
  }
  return out;
}

bool isBoolField(std::string_view field) {
  return field == "spec.hostNetwork" || field == "spec.unschedulable";
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
      return badRequest("invalid selector: '" + std::string(text) + "'; can't understand '" + term +
                        "'");
    }
    sel.requirements_.push_back(std::move(r));
  }
  return sel;
}

absl::Status FieldSelector::validateFor(const ResourceType& type) const {
  for (const Requirement& r : requirements_) {
    if (r.field == "metadata.name") continue;
    if (r.field == "metadata.namespace" && type.namespaced) continue;
    if (std::find(type.field_labels.begin(), type.field_labels.end(), r.field) !=
        type.field_labels.end()) {
      continue;
    }
    return badRequest("field label not supported: " + r.field);
  }
  return absl::OkStatus();
}

std::string FieldSelector::fieldValue(const Json& object, std::string_view field) {
  if (field == "source") field = "source.component";
  const Json* cur = &object;
  size_t start = 0;
  while (start <= field.size()) {
    size_t dot = field.find('.', start);
    std::string key(field.substr(start, dot == std::string_view::npos ? field.npos : dot - start));
    if (!cur->is_object()) return isBoolField(field) ? "false" : "";
    auto it = cur->find(key);
    if (it == cur->end()) return isBoolField(field) ? "false" : "";
    cur = &*it;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (cur->is_string()) return cur->get<std::string>();
  if (cur->is_boolean()) return cur->get<bool>() ? "true" : "false";
  if (cur->is_number()) return cur->dump();
  return isBoolField(field) ? "false" : "";
}

bool FieldSelector::matches(const Json& object) const {
  for (const Requirement& r : requirements_) {
    bool equal = fieldValue(object, r.field) == r.value;
    if (equal == r.negated) return false;
  }
  return true;
}

std::optional<std::string> FieldSelector::requiredValue(std::string_view field) const {
  for (const Requirement& r : requirements_) {
    if (r.field == field && !r.negated) return r.value;
  }
  return std::nullopt;
}

}  // namespace kubehub::standin
