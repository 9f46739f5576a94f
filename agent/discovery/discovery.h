#pragma once
/// What the edge API server serves: its version and every resource type (group, version,
/// resource, kind, namespaced, verbs, subresources), gathered from /version, /api and /apis
/// and reported to the hub as a `discovery.response` control message (proto/control.h).

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/discovery/resource_list.h"
#include "agent/forward/upstream_client.h"
#include "proto/control.h"

namespace kubehub::agent {

/// Fetches everything and returns the answer to discovery request `request_id`.
boost::asio::awaitable<absl::StatusOr<proto::DiscoveryResponse>> discover(
    std::shared_ptr<UpstreamClient> client, int64_t request_id);

}  // namespace kubehub::agent
