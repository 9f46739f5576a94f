#pragma once
/// Query strings as the API server reads them: Go's url.ParseQuery ('&'-separated pairs, '+'
/// and %XX decoded, a pair with a bad escape or a ';' dropped) and its boolean parameters
/// (runtime's string-to-bool conversion). The one reader of query strings for the hub, the
/// agent, the metaserver and the stand-in. Pure.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kubehub::k8s {

/// Every pair of a query string, in order.
class QueryValues {
 public:
  explicit QueryValues(std::string_view raw);
  /// The first value of `name` (what the server uses), or nullopt when absent.
  std::optional<std::string> first(std::string_view name) const;
  bool has(std::string_view name) const { return first(name).has_value(); }
  const std::vector<std::pair<std::string, std::string>>& pairs() const { return pairs_; }

 private:
  std::vector<std::pair<std::string, std::string>> pairs_;
};

/// A boolean parameter: absent, "0" and any case of "false" are false; anything else, the
/// empty string included, is true.
bool queryBool(const QueryValues& q, std::string_view name);

/// The first value of `name` in a raw query (without '?'), read as QueryValues reads it,
/// without decoding the other pairs.
std::optional<std::string> queryParam(std::string_view query, std::string_view name);
/// queryBool of a raw query.
bool queryFlag(std::string_view query, std::string_view name);

/// The first pair of a raw query that url.ParseQuery drops (a bad %-escape or a ';'), for a
/// server of its own API that refuses such a query rather than ignore a parameter; nullopt
/// when there is none.
std::optional<std::string> droppedQueryPair(std::string_view query);

}  // namespace kubehub::k8s
