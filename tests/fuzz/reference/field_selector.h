#pragma once
/// A second, independent field selector parser and matcher (the stand-in's former one), kept
/// only as the reference the differential fuzz target compares common/k8s/field_selector.h
/// with. Values are unescaped byte by byte. Errors are plain InvalidArgument. Pure.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kubehub::reference {

class FieldSelector {
 public:
  struct Requirement {
    std::string field;
    bool negated = false;
    std::string value;
  };

  static absl::StatusOr<FieldSelector> parse(std::string_view text);

  /// `fields` maps a field to its value; an absent field has the empty value.
  bool matches(const std::map<std::string, std::string>& fields) const;
  bool empty() const { return requirements_.empty(); }
  const std::vector<Requirement>& requirements() const { return requirements_; }

 private:
  std::vector<Requirement> requirements_;
};

}  // namespace kubehub::reference
