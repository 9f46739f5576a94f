#pragma once
/// The `status` control message (agent → hub): what the agent knows of its cluster (Kubernetes
/// version, nodes and their readiness, allocatable CPU and memory), of itself (version, build,
/// uptime) and of its tunnel (round-trip time). See "Cluster status" in proto/PROTOCOL.md.
/// The hub forwards the report to the metaserver, which checks it with the same parser. Pure.

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kubehub::proto {

/// Messages (and stored reports) longer than this are refused before they are parsed.
inline constexpr size_t kMaxStatusMessage = 16 * 1024;
/// Bounds on the report's strings.
inline constexpr size_t kMaxStatusVersionLength = 64;
inline constexpr size_t kMaxStatusErrorLength = 512;
/// Node counts beyond this are refused as nonsense (the largest clusters have ~15k nodes).
inline constexpr int64_t kMaxStatusNodes = 1000000;

struct NodeSummary {
  int64_t total = 0;
  int64_t ready = 0;
  /// Summed over the nodes' status.allocatable (nodes that list none count as 0).
  int64_t cpu_millis = 0;
  int64_t memory_bytes = 0;
  bool operator==(const NodeSummary&) const = default;
};

/// What a host agent (--mode native, no API server) reports of its machine instead of nodes.
struct HostFacts {
  std::string os;      // /etc/os-release PRETTY_NAME, "Debian GNU/Linux 12 (bookworm)"
  std::string kernel;  // uname release, "6.1.0-18-amd64"
  std::string arch;    // uname machine, "x86_64"
  int64_t cpus = 0;
  int64_t memory_total_bytes = 0;
  int64_t memory_available_bytes = 0;
  /// The file system holding the agent's --host-disk-path.
  std::string disk_path;
  int64_t disk_total_bytes = 0;
  int64_t disk_free_bytes = 0;
  int64_t uptime_seconds = 0;
  /// 1, 5 and 15 minute load averages.
  double load1 = 0, load5 = 0, load15 = 0;
  bool operator==(const HostFacts&) const = default;
};

/// What the agent fronts: a Kubernetes API server, or a bare host (native commands only).
inline constexpr std::string_view kKindKubernetes = "kubernetes";
inline constexpr std::string_view kKindHost = "host";
/// Bounds on host strings and load averages.
inline constexpr size_t kMaxStatusHostText = 128;
inline constexpr size_t kMaxStatusPathLength = 256;
inline constexpr double kMaxStatusLoad = 1e6;

/// One type the hub caches for the cluster (hub/cache), and how many objects it holds.
struct CachedType {
  std::string resource;  // "pods" or "deployments.apps"
  std::string version;   // "v1"
  int64_t objects = 0;
  /// The type's initial list has been applied (reads are served from the cache).
  bool synced = false;
  bool operator==(const CachedType&) const = default;
};

/// At most this many types are listed in a report (the largest by object count; a cluster
/// caching more says so with `truncated`), which keeps a stored report under ~48 KiB.
inline constexpr size_t kMaxStatusCachedTypes = 512;
inline constexpr size_t kMaxStatusResourceLength = 320;  // resource (63) "." group (253)

/// What the hub holding the tunnel caches of the cluster. Not the agent's to say: the hub
/// fills it in (replacing whatever the agent sent) when it forwards the report.
struct CacheSummary {
  /// Largest first (then by name); at most kMaxStatusCachedTypes.
  std::vector<CachedType> types;
  /// Over every cached type, listed or not.
  int64_t type_count = 0;
  int64_t synced_types = 0;
  int64_t objects = 0;
  /// More types are cached than listed.
  bool truncated = false;
  bool operator==(const CacheSummary&) const = default;
};

struct ClusterStatusReport {
  /// kKindKubernetes or kKindHost; reports without "kind" are of Kubernetes clusters.
  std::string kind{kKindKubernetes};
  /// Present in reports of kind host.
  std::optional<HostFacts> host;
  /// From the API server's /version; empty when it did not answer.
  std::string kubernetes_version;  // gitVersion, "v1.32.4"
  std::string platform;            // "linux/amd64"
  /// Absent when the nodes could not be listed; then `nodes_error` says why.
  std::optional<NodeSummary> nodes;
  std::string nodes_error;
  std::string agent_version;
  std::string agent_build;
  int64_t uptime_seconds = 0;
  /// Resource types the API server serves (from discovery); absent until known.
  std::optional<int64_t> served_types;
  /// The tunnel's last measured PING round trip; absent until one was measured.
  std::optional<double> rtt_ms;
  /// Added by the hub (see CacheSummary); absent in the agent's message and for hosts.
  std::optional<CacheSummary> cache;
  bool operator==(const ClusterStatusReport&) const = default;
};

/// What a request for any path but /kubehub/ of a host's cluster is answered (404), by its agent
/// and by the hub holding its tunnel.
std::string hostRefusal(std::string_view cluster);

/// The report as a JSON object (the message without its "type"): what the hub forwards and
/// the metaserver stores and serves.
nlohmann::json statusReportJson(const ClusterStatusReport& report);
/// The whole control message: {"type":"status", ...the report}.
std::string encodeStatusMessage(const ClusterStatusReport& report);

/// Reads a report object strictly: required fields present, every field of the right type and
/// within its bounds (InvalidArgument naming the field otherwise). Unknown fields are ignored
/// (newer agents may send more) and are not kept.
absl::StatusOr<ClusterStatusReport> parseStatusReport(const nlohmann::json& report);
/// A whole control message: at most kMaxStatusMessage bytes, JSON, type "status", then as
/// parseStatusReport.
absl::StatusOr<ClusterStatusReport> parseStatusMessage(std::string_view message);

}  // namespace kubehub::proto
