#pragma once
/// Kubernetes label selectors (the `labelSelector` query parameter) with the full grammar of
/// k8s.io/apimachinery/pkg/labels: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a)`, `k`,
/// `!k`, `k>1`, `k<1`, comma-separated (AND). Pure; immutable after parsing.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/standin/json_types.h"

namespace kubehub::standin {

class LabelSelector {
 public:
  enum class Op { kIn, kNotIn, kEquals, kNotEquals, kExists, kDoesNotExist, kGreater, kLess };
  struct Requirement {
    std::string key;
    Op op = Op::kExists;
    std::vector<std::string> values;
  };

  /// Parses selector text; errors carry the real server's wording (400 BadRequest).
  static absl::StatusOr<LabelSelector> parse(std::string_view text);

  bool empty() const { return requirements_.empty(); }
  /// `labels` is metadata.labels (an object) or null/absent.
  bool matches(const Json* labels) const;
  const std::vector<Requirement>& requirements() const { return requirements_; }

 private:
  std::vector<Requirement> requirements_;
};

}  // namespace kubehub::standin
