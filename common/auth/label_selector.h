#pragma once
/// Kubernetes label selectors ("env=prod,tier in (web,api),!legacy"), parsed strictly and
/// matched against a label map. Used by grants to pick clusters by label. Pure; a parsed
/// selector is immutable and safe to share across threads.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kubehub::auth {

using Labels = std::map<std::string, std::string, std::less<>>;

/// True for a label key: optional DNS-subdomain prefix and '/', then a name of at most 63
/// characters [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?.
bool isLabelKey(std::string_view key);
/// True for a label value: empty, or like a key's name part.
bool isLabelValue(std::string_view value);

class LabelSelector {
 public:
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kNotExists };
  struct Requirement {
    std::string key;
    Op op = Op::kExists;
    std::vector<std::string> values;
  };

  /// InvalidArgument with a message naming the offending part. The empty selector matches
  /// everything.
  static absl::StatusOr<LabelSelector> parse(std::string_view text);

  bool matches(const Labels& labels) const;
  bool empty() const { return requirements_.empty(); }
  const std::vector<Requirement>& requirements() const { return requirements_; }
  /// Canonical text form (what parse accepts).
  std::string str() const;

 private:
  std::vector<Requirement> requirements_;
};

}  // namespace kubehub::auth
