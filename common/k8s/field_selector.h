#pragma once
/// Kubernetes field selectors (the `fieldSelector` query parameter) with
/// k8s.io/apimachinery/pkg/fields' grammar and error wording: comma-separated `field=value`,
/// `field==value`, `field!=value` terms, `\`, `,` and `=` escaped with a backslash in values.
/// Which fields a type supports is the caller's business (the server's "field label not
/// supported"). Immutable after parsing; matching reads fields through a callable.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kubehub::k8s {

class FieldSelector {
 public:
  struct Term {
    std::string field;
    bool equal = true;  // `=`/`==`; false for `!=`
    std::string value;  // unescaped
  };

  /// Parses like fields.ParseSelector. On error: 400 BadRequest (an api_error.h payload) with
  /// the server's exact message. Terms come out in the server's order (sorted by their text).
  static absl::StatusOr<FieldSelector> parse(std::string_view text);
  /// A selector of one `field=value` term (what a watch of one named object means).
  static FieldSelector oneTermEqual(std::string field, std::string value);

  bool empty() const { return terms_.empty(); }
  const std::vector<Term>& terms() const { return terms_; }
  /// `value_of(field)` gives an object's value of a field (empty when it has none), as
  /// something comparable with std::string.
  template <class ValueOf>
  bool matches(const ValueOf& value_of) const {
    for (const Term& t : terms_) {
      if ((value_of(std::string_view(t.field)) == t.value) != t.equal) return false;
    }
    return true;
  }
  /// The value an equality term pins for `field`.
  std::optional<std::string> requiresExactMatch(std::string_view field) const;
  /// Adds the terms of `other` (AND).
  void add(const FieldSelector& other);

 private:
  std::vector<Term> terms_;
};

/// A field selector value with `\`, `,` and `=` escaped (fields.EscapeValue).
std::string escapeFieldValue(std::string_view value);

}  // namespace kubehub::k8s
