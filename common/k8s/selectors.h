#pragma once
/// Label selectors (full grammar of k8s.io/apimachinery labels: `k=v`, `k==v`, `k!=v`,
/// `k in (a,b)`, `k notin (a)`, `k`, `!k`, `k>1`, `k<1`, comma-separated AND) and the field
/// selectors the hub cache can evaluate itself (metadata.name, metadata.namespace with `=`,
/// `==`, `!=`). Anything it cannot evaluate is reported as unsupported, and the request goes to
/// the edge, which answers with its own exact semantics and error messages. Pure.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace kubehub::k8s {

using Labels = std::vector<std::pair<std::string, std::string>>;

class LabelSelector {
 public:
  enum class Op {
    kEquals,
    kNotEquals,
    kIn,
    kNotIn,
    kExists,
    kDoesNotExist,
    kGreaterThan,
    kLessThan
  };
  struct Requirement {
    std::string key;
    Op op = Op::kExists;
    std::vector<std::string> values;
  };

  /// InvalidArgument for text the Kubernetes parser would refuse.
  static absl::StatusOr<LabelSelector> parse(std::string_view text);

  bool empty() const { return requirements_.empty(); }
  bool matches(const Labels& labels) const;
  const std::vector<Requirement>& requirements() const { return requirements_; }

 private:
  std::vector<Requirement> requirements_;
};

class FieldSelector {
 public:
  struct Term {
    std::string field;  // "metadata.name" or "metadata.namespace"
    bool equal = true;
    std::string value;
  };
  /// InvalidArgument for malformed text; Unimplemented for fields the cache cannot evaluate.
  static absl::StatusOr<FieldSelector> parse(std::string_view text);

  bool empty() const { return terms_.empty(); }
  bool matches(std::string_view ns, std::string_view name) const;
  /// The single name this selector pins (metadata.name=X), if any.
  std::optional<std::string> exactName() const;

 private:
  std::vector<Term> terms_;
};

}  // namespace kubehub::k8s
