#include "tests/standin/field_labels.h"

#include <algorithm>

#include "tests/standin/api_error.h"

namespace kubehub::standin {

namespace {

bool isBoolField(std::string_view field) {
  return field == "spec.hostNetwork" || field == "spec.unschedulable";
}

}  // namespace

absl::Status checkFieldLabels(const k8s::FieldSelector& selector, const ResourceType& type) {
  for (const k8s::FieldSelector::Term& t : selector.terms()) {
    if (t.field == "metadata.name") continue;
    if (t.field == "metadata.namespace" && type.namespaced) continue;
    if (std::find(type.field_labels.begin(), type.field_labels.end(), t.field) !=
        type.field_labels.end()) {
      continue;
    }
    return badRequest("field label not supported: " + t.field);
  }
  return absl::OkStatus();
}

std::string fieldValue(const Json& object, std::string_view field) {
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

bool matchesFields(const k8s::FieldSelector& selector, const Json& object) {
  return selector.matches([&object](std::string_view field) { return fieldValue(object, field); });
}

}  // namespace kubehub::standin
