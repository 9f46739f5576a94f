#pragma once
/// The fields a type's field selectors may name (its field labels) and an object's value of
/// each, as the real server's field sets have them. Selector syntax is common/k8s's. Pure.

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "common/k8s/field_selector.h"
#include "tests/standin/json_types.h"
#include "tests/standin/resource_types.h"

namespace kubehub::standin {

/// 400 "field label not supported: X" when the type does not index a field of the selector.
absl::Status checkFieldLabels(const k8s::FieldSelector& selector, const ResourceType& type);

/// The string value of a field label of an object ("" when absent; booleans "true"/"false").
std::string fieldValue(const Json& object, std::string_view field);

/// Whether the object's fields satisfy the selector.
bool matchesFields(const k8s::FieldSelector& selector, const Json& object);

}  // namespace kubehub::standin
