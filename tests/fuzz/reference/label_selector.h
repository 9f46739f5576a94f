#pragma once
/// A second, independent label selector parser and matcher (the stand-in's former one), kept
/// only as the reference the differential fuzz target compares common/k8s/label_selector.h
/// with: same grammar and validation as k8s.io/apimachinery/pkg/labels, written another way
/// (no token table, values kept as written). Errors are plain InvalidArgument. Pure.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kubehub::reference {

class LabelSelector {
 public:
  enum class Op { kIn, kNotIn, kEquals, kNotEquals, kExists, kDoesNotExist, kGreater, kLess };
  struct Requirement {
    std::string key;
    Op op = Op::kExists;
    std::vector<std::string> values;
  };

  static absl::StatusOr<LabelSelector> parse(std::string_view text);

  bool empty() const { return requirements_.empty(); }
  bool matches(const std::map<std::string, std::string>& labels) const;
  const std::vector<Requirement>& requirements() const { return requirements_; }

 private:
  std::vector<Requirement> requirements_;
};

}  // namespace kubehub::reference
