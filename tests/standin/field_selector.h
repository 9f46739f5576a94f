#pragma once
/// Kubernetes field selectors (the `fieldSelector` query parameter): comma-separated
/// `field=value`, `field==value`, `field!=value` terms with backslash escapes, matched against
/// the per-type field labels the real server supports. Pure; immutable after parsing.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/standin/json_types.h"
#include "tests/standin/resource_types.h"

namespace kubehub::standin {

class FieldSelector {
 public:
  struct Requirement {
    std::string field;
    bool negated = false;
    std::string value;
  };

  static absl::StatusOr<FieldSelector> parse(std::string_view text);

  /// 400 "field label not supported: X" when the type does not index a field.
  absl::Status validateFor(const ResourceType& type) const;
  bool matches(const Json& object) const;
  bool empty() const { return requirements_.empty(); }
  /// The value an equality term requires for `field` (lets lists use the name index).
  std::optional<std::string> requiredValue(std::string_view field) const;
  const std::vector<Requirement>& requirements() const { return requirements_; }

  /// The string value of a field label of an object, as the real server's field set has it.
  static std::string fieldValue(const Json& object, std::string_view field);

 private:
  std::vector<Requirement> requirements_;
};

}  // namespace kubehub::standin
