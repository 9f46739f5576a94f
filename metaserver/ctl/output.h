#pragma once
/// kubehubctl's output and argument helpers: tables for people, JSON for scripts, exit codes
/// that say what went wrong. Pure.

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kubehub::ctl {

using Json = nlohmann::json;

/// Exit codes (also in `kubehubctl --help`).
inline constexpr int kExitOk = 0;
inline constexpr int kExitApiError = 1;     // the server refused (400, 422, 5xx other than 503)
inline constexpr int kExitUsage = 2;        // bad command line or configuration
inline constexpr int kExitNotFound = 3;     // 404
inline constexpr int kExitConflict = 4;     // 409
inline constexpr int kExitDenied = 5;       // 401, 403
inline constexpr int kExitUnavailable = 6;  // 503 or the server cannot be reached

int exitCodeForHttpStatus(int status);

struct Column {
  std::string header;
  std::function<std::string(const Json&)> value;
};

/// A column that shows field `key` (strings as is, null as "-", arrays comma-joined, objects
/// as k=v pairs).
Column field(std::string header, std::string key);
std::string display(const Json& value);

/// Left-aligned columns separated by three spaces, a header line first.
std::string renderTable(const std::vector<Column>& columns, const Json& items);
/// One "key: value" line per field of an object.
std::string renderObject(const Json& object);

/// One "key: value" line per leaf, nested objects' keys joined with dots
/// ("status.report.nodes.ready: 2"); arrays as in display().
std::string renderFlat(const Json& object);

/// Cells of `kubehubctl cluster list` from a cluster's "status" (GET /api/v1/clusters/NAME),
/// by its kind: CONNECTED "yes"/"no" (",disabled" appended), KIND, VERSION (a Kubernetes
/// cluster's gitVersion; a host's OS and kernel, "Debian GNU/Linux 12 (bookworm) (kernel
/// 6.1.0-18-amd64)"), NODES "ready/total" (a host has none), CPU (cores: the nodes' allocatable
/// summed, "7.5", or a host's CPUs), MEMORY (the same in GiB, "8.0GiB"), AGENT; "-" for what
/// the last report did not say (or when none came).
std::string clusterConnected(const Json& cluster);
std::string clusterKind(const Json& cluster);
std::string clusterVersion(const Json& cluster);
std::string clusterNodes(const Json& cluster);
std::string clusterCpu(const Json& cluster);
std::string clusterMemory(const Json& cluster);
std::string clusterAgentVersion(const Json& cluster);

/// `kubehubctl cluster get`: renderFlat, but the cached types the hub reported
/// (status.report.cache.types) as a table after the other fields, largest first as listed:
/// "RESOURCE VERSION OBJECTS SYNCED", indented under "status.report.cache.types:".
std::string renderCluster(const Json& cluster);

/// GET /api/v1/bans as one list of rows for a table: tenants, then users, then clusters, each
/// {"kind", "name", "tenant", "since", "reason"} (absent fields null).
Json banRows(const Json& bans);

/// "a,b,c" → {"a","b","c"}; empty input → {}. Whitespace around items is trimmed.
std::vector<std::string> splitList(std::string_view text);
/// "k=v,k2=v2" → labels; InvalidArgument on an item without '='.
absl::StatusOr<std::map<std::string, std::string>> parseLabels(std::string_view text);

/// What `kubehubctl cluster install` puts into the agent chart's enrolment values.
struct AgentInstall {
  std::string cluster;
  std::string namespace_name = "kubehub-system";
  std::string release = "kubehub-agent";
  std::string chart = "deploy/helm/kubehub-agent";
  std::vector<std::string> hub_urls;  // wss://HOST:PORT/tunnel
  std::string metaserver_url;
  std::string bootstrap_token;
  /// Files for --set-file (empty: not set; the agent then trusts the system roots).
  std::string metaserver_ca_file;
  std::string hub_ca_file;
};

/// `arg` quoted for a POSIX shell when it needs it.
std::string shellQuote(std::string_view arg);
/// The `helm install` line (continued over lines with backslashes) that installs the agent in
/// enrolment mode; with `template_only`, the `helm template` line that writes the same as plain
/// YAML for `kubectl apply -f`.
std::string agentInstallCommand(const AgentInstall& install, bool template_only = false);

}  // namespace kubehub::ctl
