#pragma once
/// Kubernetes label selectors (the `labelSelector` query parameter, grants' cluster selectors)
/// with k8s.io/apimachinery/pkg/labels' grammar, validation and error wording: `k=v`, `k==v`,
/// `k!=v`, `k in (a,b)`, `k notin (a)`, `k`, `!k`, `k>1`, `k<1`, comma-separated (AND).
/// A parsed selector is immutable and safe to share across threads; matching reads any label
/// set through LabelView, without copying it.

#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace kubehub::k8s {

/// Labels as an ordered list of pairs (how the hub cache keeps an object's labels).
using Labels = std::vector<std::pair<std::string, std::string>>;
/// Labels as a map (grants, cluster records).
using LabelMap = std::map<std::string, std::string, std::less<>>;

/// A read-only view of a label set, whatever holds it: a LabelMap, a Labels list, or a JSON
/// object, plain or ordered (metadata.labels; null or absent means no labels). Cheap to copy; the
/// viewed labels must outlive it.
class LabelView {
 public:
  LabelView(const LabelMap& labels);              // NOLINT(google-explicit-constructor)
  LabelView(const Labels& labels);                // NOLINT(google-explicit-constructor)
  LabelView(const nlohmann::json* json);          // NOLINT(google-explicit-constructor)
  LabelView(const nlohmann::ordered_json* json);  // NOLINT(google-explicit-constructor)

  /// The value of `key`, or nullopt when the label is absent.
  std::optional<std::string_view> find(std::string_view key) const { return find_(labels_, key); }

 private:
  using FindFn = std::optional<std::string_view> (*)(const void*, std::string_view);
  const void* labels_;
  FindFn find_;
};

class LabelSelector {
 public:
  enum class Op {
    kIn,
    kNotIn,
    kEquals,
    kDoubleEquals,
    kNotEquals,
    kExists,
    kDoesNotExist,
    kGreaterThan,
    kLessThan
  };
  struct Requirement {
    std::string key;
    Op op = Op::kExists;
    /// Sorted, without duplicates (as the server keeps them).
    std::vector<std::string> values;
    bool matches(LabelView labels) const;
    /// The server's text form ("a in (x,y)", "!b", "c>1").
    std::string str() const;
  };

  /// Parses like labels.Parse. On error: 400 BadRequest (an api_error.h payload) with the
  /// server's exact message. Requirements come out sorted by key.
  static absl::StatusOr<LabelSelector> parse(std::string_view text);

  bool empty() const { return requirements_.empty(); }
  bool matches(LabelView labels) const;
  const std::vector<Requirement>& requirements() const { return requirements_; }
  /// The value an `=`/`==`/single-value `in` requirement pins for `key`.
  std::optional<std::string> requiresExactMatch(std::string_view key) const;
  /// The server's canonical text (requirements by key, joined with ',').
  std::string str() const;

 private:
  std::vector<Requirement> requirements_;
};

}  // namespace kubehub::k8s
