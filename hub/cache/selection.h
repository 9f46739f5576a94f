#pragma once
/// What a cached read selects (Filter) and how its answer is encoded (Encoding): plain values
/// that a cache decision carries from the planner to the store and the codec, apart from both
/// so that carrying them needs neither.

#include <cstdint>
#include <string>
#include <vector>

#include "common/k8s/field_selector.h"
#include "common/k8s/label_selector.h"

namespace kubehub::hub::cache {

struct CachedObject;

/// Which objects a LIST or WATCH selects.
struct Filter {
  std::string ns;  // empty: all namespaces
  /// When set, only these namespaces (a user granted some namespaces listing across all).
  std::vector<std::string> allowed_namespaces;
  k8s::LabelSelector labels;
  k8s::FieldSelector fields;
  bool matches(const CachedObject& o) const;
};

/// How the cache renders an answer.
struct Encoding {
  /// Serve a Table (Accept as=Table) instead of the object or typed list.
  bool table = false;
  /// includeObject: "None", "Metadata" (default) or "Object".
  std::string include_object = "Metadata";
  /// Whether list items carry kind/apiVersion (as this edge does).
  bool items_have_type_meta = true;
  /// "now" for Age cells.
  int64_t now_unix = 0;
};

}  // namespace kubehub::hub::cache
