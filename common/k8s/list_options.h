#pragma once
/// The query parameters of a LIST or WATCH (metav1.ListOptions) decoded and validated the way
/// the API server's list handler does it, in its order: undecodable values and selectors are
/// 400 BadRequest, invalid combinations (resourceVersionMatch, sendInitialEvents, continue)
/// 422 Invalid for ListOptions.meta.k8s.io, each with the server's exact message. Pure.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/k8s/field_selector.h"
#include "common/k8s/label_selector.h"
#include "common/k8s/query.h"

namespace kubehub::k8s {

struct ListOptions {
  std::string label_selector_text;
  std::string field_selector_text;
  LabelSelector labels;
  FieldSelector fields;
  bool watch = false;
  bool allow_watch_bookmarks = false;
  std::string resource_version;
  std::string resource_version_match;
  std::optional<int64_t> timeout_seconds;
  int64_t limit = 0;
  std::string continue_token;
  /// As the client sent it (absent: nullopt), before the WatchList default.
  std::optional<bool> send_initial_events;
};

/// Decodes, defaults (the WatchList feature, on by default) and validates. `options.watch`
/// is the `watch` parameter only: a watch by path (/watch/...) is validated as a list, as the
/// server does.
absl::StatusOr<ListOptions> parseListOptions(const QueryValues& query);

}  // namespace kubehub::k8s
