#include "agent/forward/admission.h"

#include "common/net/http_headers.h"

namespace kubehub::agent {

absl::Status admitForwardedRequest(const proto::RequestHead& head, bool hub_marks_internal) {
  if (head.internal) {
    if (head.method != "GET") {
      return absl::PermissionDeniedError(
          "the kubehub agent refused a " + head.method +
          " marked as the hub's own request: those run as the agent and may only read");
    }
    return absl::OkStatus();
  }
  if (!hub_marks_internal) return absl::OkStatus();
  for (const auto& [name, value] : head.headers) {
    if (net::iequals(name, "Impersonate-User") && !value.empty()) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      "the kubehub agent refused a request that names no user (no Impersonate-User): it would "
      "run with the agent's own rights");
}

}  // namespace kubehub::agent
