#pragma once
/// Reads the API server's NodeList pages into a proto::NodeSummary: how many nodes, how many
/// Ready, and their allocatable CPU and memory summed. Pure.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "proto/cluster_status.h"

namespace kubehub::agent {

/// Adds the nodes of one NodeList page (GET /api/v1/nodes) to `sum` and returns the page's
/// metadata.continue ("" on the last page). A node is ready when its Ready condition's status
/// is "True". InvalidArgument when the body is not a NodeList or a quantity is malformed (the
/// page is then not added).
absl::StatusOr<std::string> addNodeListPage(std::string_view body, proto::NodeSummary* sum);

}  // namespace kubehub::agent
