#include "common/k8s/list_options.h"

#include "common/k8s/api_error.h"
#include "common/k8s/validation.h"

namespace kubehub::k8s {

namespace {

struct Validation {
  std::vector<FieldError> errors;
  void forbidden(std::string_view detail) {
    errors.push_back(fieldForbidden("resourceVersionMatch", detail));
  }
};

std::vector<FieldError> validate(const ListOptions& o, std::optional<bool> send_initial,
                                 const std::string& match) {
  Validation v;
  if (!o.watch) {
    if (!match.empty()) {
      if (o.resource_version.empty()) {
        v.forbidden("resourceVersionMatch is forbidden unless resourceVersion is provided");
      }
      if (!o.continue_token.empty()) {
        v.forbidden("resourceVersionMatch is forbidden when continue is provided");
      }
      if (match != "Exact" && match != "NotOlderThan") {
        v.errors.push_back(fieldNotSupported("resourceVersionMatch", jsonQuote(match),
                                             {"Exact", "NotOlderThan", ""}));
      }
      if (match == "Exact" && o.resource_version == "0") {
        v.forbidden("resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"");
      }
    }
    if (send_initial.has_value()) {
      v.errors.push_back(
          fieldForbidden("sendInitialEvents", "sendInitialEvents is forbidden for list"));
    }
    return v.errors;
  }
  if (send_initial.has_value() && match != "NotOlderThan") {
    v.forbidden("sendInitialEvents requires setting resourceVersionMatch to NotOlderThan");
  }
  if (!match.empty()) {
    if (!send_initial.has_value()) {
      v.forbidden(
          "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided");
    }
    if (match != "NotOlderThan") {
      v.errors.push_back(
          fieldNotSupported("resourceVersionMatch", jsonQuote(match), {"NotOlderThan"}));
    }
    if (!o.continue_token.empty()) {
      v.forbidden("resourceVersionMatch is forbidden when continue is provided");
    }
  }
  return v.errors;
}

}  // namespace

absl::StatusOr<ListOptions> parseListOptions(const QueryValues& q) {
  ListOptions o;
  // url.Values -> v1.ListOptions, field by field in the struct's order.
  o.label_selector_text = q.first("labelSelector").value_or("");
  o.field_selector_text = q.first("fieldSelector").value_or("");
  o.watch = queryBool(q, "watch");
  o.allow_watch_bookmarks = queryBool(q, "allowWatchBookmarks");
  o.resource_version = q.first("resourceVersion").value_or("");
  o.resource_version_match = q.first("resourceVersionMatch").value_or("");
  if (auto t = q.first("timeoutSeconds")) {
    int64_t n = 0;
    std::string err = parseInt64(*t, &n);
    if (!err.empty()) return badRequest(err);
    o.timeout_seconds = n;
  }
  if (auto l = q.first("limit")) {
    std::string err = parseInt64(*l, &o.limit);
    if (!err.empty()) return badRequest(err);
  }
  o.continue_token = q.first("continue").value_or("");
  if (q.has("sendInitialEvents")) o.send_initial_events = queryBool(q, "sendInitialEvents");
  // v1 -> internal: the selectors are parsed here.
  auto labels = LabelSelector::parse(o.label_selector_text);
  if (!labels.ok()) return labels.status();
  o.labels = std::move(*labels);
  auto fields = FieldSelector::parse(o.field_selector_text);
  if (!fields.ok()) return fields.status();
  o.fields = std::move(*fields);
  // The WatchList default: a watch from "" or "0" asks for initial events.
  std::optional<bool> send_initial = o.send_initial_events;
  std::string match = o.resource_version_match;
  if (!send_initial.has_value() && match.empty() && o.watch &&
      (o.resource_version.empty() || o.resource_version == "0")) {
    send_initial = true;
    match = "NotOlderThan";
  }
  auto errors = validate(o, send_initial, match);
  if (!errors.empty()) return invalid("meta.k8s.io", "ListOptions", "", errors);
  return o;
}

}  // namespace kubehub::k8s
