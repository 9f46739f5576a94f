#pragma once
/// Which of the hub's forwarded requests the agent runs: its defence in depth behind the hub.
/// Pure; thread-compatible.

#include "absl/status/status.h"
#include "proto/frame.h"

namespace kubehub::agent {

/// OK when the agent may run `head` against its API server.
/// - The hub's own requests (head.internal: the cache's list+watch) run as the agent's
///   ServiceAccount, so they may only read: GET.
/// - When the hub promised to mark its own requests (`hub_marks_internal`, negotiated in the
///   handshake), every other request must name a user with Impersonate-User; one without would
///   run with the agent's rights instead of the user's, so it is refused (PermissionDenied).
absl::Status admitForwardedRequest(const proto::RequestHead& head, bool hub_marks_internal);

}  // namespace kubehub::agent
