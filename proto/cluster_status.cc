#include "proto/cluster_status.h"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/status/status_macros.h"

namespace kubehub::proto {

using Json = nlohmann::json;

namespace {

absl::Status invalid(std::string_view field, std::string_view what) {
  return absl::InvalidArgumentError("status report: \"" + std::string(field) + "\" " +
                                    std::string(what));
}

// Printable ASCII: these strings end up in logs, tables and metric labels.
bool printable(std::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return true;
}

/// The object member `key` of `parent` (named `path` in errors); null when absent.
absl::StatusOr<const Json*> member(const Json& parent, const char* key, std::string_view path,
                                   bool required) {
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) {
    if (required) return invalid(path, "is required");
    return static_cast<const Json*>(nullptr);
  }
  return &*it;
}

absl::Status readObject(const Json& parent, const char* key, std::string_view path, bool required,
                        const Json** out) {
  KH_ASSIGN_OR_RETURN(*out, member(parent, key, path, required));
  if (*out != nullptr && !(*out)->is_object()) return invalid(path, "must be an object");
  return absl::OkStatus();
}

absl::Status readString(const Json& parent, const char* key, std::string_view path, bool required,
                        size_t max, std::string* out) {
  KH_ASSIGN_OR_RETURN(const Json* v, member(parent, key, path, required));
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_string()) return invalid(path, "must be a string");
  const auto& s = v->get_ref<const std::string&>();
  if (s.size() > max) return invalid(path, "is longer than " + std::to_string(max) + " bytes");
  if (!printable(s)) return invalid(path, "must be printable ASCII");
  *out = s;
  return absl::OkStatus();
}

absl::Status readCount(const Json& parent, const char* key, std::string_view path, bool required,
                       int64_t max, std::optional<int64_t>* out) {
  KH_ASSIGN_OR_RETURN(const Json* v, member(parent, key, path, required));
  if (v == nullptr) return absl::OkStatus();
  if (!v->is_number_integer()) return invalid(path, "must be a whole number");
  if (v->is_number_unsigned() ? v->get<uint64_t>() > static_cast<uint64_t>(max)
                              : (v->get<int64_t>() < 0 || v->get<int64_t>() > max)) {
    return invalid(path, "must be between 0 and " + std::to_string(max));
  }
  *out = v->get<int64_t>();
  return absl::OkStatus();
}

absl::Status readRequiredCount(const Json& parent, const char* key, std::string_view path,
                               int64_t max, int64_t* out) {
  std::optional<int64_t> v;
  KH_RETURN_IF_ERROR(readCount(parent, key, path, true, max, &v));
  *out = *v;
  return absl::OkStatus();
}

constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();

absl::Status readNumber(const Json& parent, const char* key, std::string_view path, double max,
                        double* out) {
  KH_ASSIGN_OR_RETURN(const Json* v, member(parent, key, path, true));
  if (!v->is_number()) return invalid(path, "must be a number");
  double d = v->get<double>();
  if (!std::isfinite(d) || d < 0 || d > max) {
    return invalid(path, "must be between 0 and " + std::to_string(static_cast<int64_t>(max)));
  }
  *out = d;
  return absl::OkStatus();
}

absl::Status readHost(const Json& h, HostFacts* out) {
  HostFacts f;
  KH_RETURN_IF_ERROR(readString(h, "os", "host.os", false, kMaxStatusHostText, &f.os));
  KH_RETURN_IF_ERROR(readString(h, "kernel", "host.kernel", false, kMaxStatusHostText, &f.kernel));
  KH_RETURN_IF_ERROR(readString(h, "arch", "host.arch", false, kMaxStatusVersionLength, &f.arch));
  KH_RETURN_IF_ERROR(readRequiredCount(h, "cpus", "host.cpus", 1000000, &f.cpus));
  const Json* memory = nullptr;
  KH_RETURN_IF_ERROR(readObject(h, "memory", "host.memory", true, &memory));
  KH_RETURN_IF_ERROR(readRequiredCount(*memory, "totalBytes", "host.memory.totalBytes", kMaxInt64,
                                       &f.memory_total_bytes));
  KH_RETURN_IF_ERROR(readRequiredCount(*memory, "availableBytes", "host.memory.availableBytes",
                                       kMaxInt64, &f.memory_available_bytes));
  const Json* disk = nullptr;
  KH_RETURN_IF_ERROR(readObject(h, "disk", "host.disk", false, &disk));
  if (disk != nullptr) {
    KH_RETURN_IF_ERROR(
        readString(*disk, "path", "host.disk.path", true, kMaxStatusPathLength, &f.disk_path));
    if (f.disk_path.empty()) return invalid("host.disk.path", "must not be empty");
    KH_RETURN_IF_ERROR(readRequiredCount(*disk, "totalBytes", "host.disk.totalBytes", kMaxInt64,
                                         &f.disk_total_bytes));
    KH_RETURN_IF_ERROR(readRequiredCount(*disk, "freeBytes", "host.disk.freeBytes", kMaxInt64,
                                         &f.disk_free_bytes));
  }
  KH_RETURN_IF_ERROR(
      readRequiredCount(h, "uptimeSeconds", "host.uptimeSeconds", kMaxInt64, &f.uptime_seconds));
  const Json* load = nullptr;
  KH_RETURN_IF_ERROR(readObject(h, "load", "host.load", false, &load));
  if (load != nullptr) {
    KH_RETURN_IF_ERROR(readNumber(*load, "1m", "host.load.1m", kMaxStatusLoad, &f.load1));
    KH_RETURN_IF_ERROR(readNumber(*load, "5m", "host.load.5m", kMaxStatusLoad, &f.load5));
    KH_RETURN_IF_ERROR(readNumber(*load, "15m", "host.load.15m", kMaxStatusLoad, &f.load15));
  }
  *out = std::move(f);
  return absl::OkStatus();
}

absl::Status readCache(const Json& c, CacheSummary* out) {
  CacheSummary summary;
  std::optional<int64_t> count;
  KH_RETURN_IF_ERROR(readCount(c, "typeCount", "cache.typeCount", true, 1000000, &count));
  summary.type_count = *count;
  KH_RETURN_IF_ERROR(readRequiredCount(c, "syncedTypes", "cache.syncedTypes", summary.type_count,
                                       &summary.synced_types));
  KH_RETURN_IF_ERROR(readRequiredCount(c, "objects", "cache.objects", kMaxInt64, &summary.objects));
  KH_ASSIGN_OR_RETURN(const Json* truncated, member(c, "truncated", "cache.truncated", false));
  if (truncated != nullptr) {
    if (!truncated->is_boolean()) return invalid("cache.truncated", "must be true or false");
    summary.truncated = truncated->get<bool>();
  }
  KH_ASSIGN_OR_RETURN(const Json* types, member(c, "types", "cache.types", true));
  if (!types->is_array()) return invalid("cache.types", "must be an array");
  if (types->size() > kMaxStatusCachedTypes) {
    return invalid("cache.types",
                   "lists more than " + std::to_string(kMaxStatusCachedTypes) + " types");
  }
  if (static_cast<int64_t>(types->size()) > summary.type_count) {
    return invalid("cache.types", "lists more types than cache.typeCount");
  }
  for (size_t i = 0; i < types->size(); ++i) {
    const Json& t = (*types)[i];
    std::string path = "cache.types[" + std::to_string(i) + "]";
    if (!t.is_object()) return invalid(path, "must be an object");
    CachedType type;
    KH_RETURN_IF_ERROR(readString(t, "resource", path + ".resource", true, kMaxStatusResourceLength,
                                  &type.resource));
    if (type.resource.empty()) return invalid(path + ".resource", "must not be empty");
    KH_RETURN_IF_ERROR(
        readString(t, "version", path + ".version", true, kMaxStatusVersionLength, &type.version));
    KH_RETURN_IF_ERROR(
        readRequiredCount(t, "objects", path + ".objects", kMaxInt64, &type.objects));
    KH_ASSIGN_OR_RETURN(const Json* synced, member(t, "synced", path + ".synced", false));
    if (synced != nullptr) {
      if (!synced->is_boolean()) return invalid(path + ".synced", "must be true or false");
      type.synced = synced->get<bool>();
    }
    summary.types.push_back(std::move(type));
  }
  *out = std::move(summary);
  return absl::OkStatus();
}

}  // namespace

std::string hostRefusal(std::string_view cluster) {
  return "cluster " + std::string(cluster) +
         " is a host: only /kubehub/v1/commands is served (its agent runs with --mode native, "
         "without a Kubernetes API server)";
}

Json statusReportJson(const ClusterStatusReport& r) {
  Json j = Json::object();
  j["kind"] = r.kind;
  if (r.host) {
    const HostFacts& h = *r.host;
    j["host"] = {
        {"os", h.os},
        {"kernel", h.kernel},
        {"arch", h.arch},
        {"cpus", h.cpus},
        {"memory",
         {{"totalBytes", h.memory_total_bytes}, {"availableBytes", h.memory_available_bytes}}},
        {"uptimeSeconds", h.uptime_seconds},
        {"load", {{"1m", h.load1}, {"5m", h.load5}, {"15m", h.load15}}}};
    if (!h.disk_path.empty()) {
      j["host"]["disk"] = {{"path", h.disk_path},
                           {"totalBytes", h.disk_total_bytes},
                           {"freeBytes", h.disk_free_bytes}};
    }
  }
  if (!r.kubernetes_version.empty() || !r.platform.empty()) {
    j["kubernetes"] = {{"gitVersion", r.kubernetes_version}, {"platform", r.platform}};
  }
  if (r.nodes) {
    j["nodes"] = {{"total", r.nodes->total},
                  {"ready", r.nodes->ready},
                  {"allocatable",
                   {{"cpuMillis", r.nodes->cpu_millis}, {"memoryBytes", r.nodes->memory_bytes}}}};
  }
  if (!r.nodes_error.empty()) j["nodesError"] = r.nodes_error;
  j["agent"] = {
      {"version", r.agent_version}, {"build", r.agent_build}, {"uptimeSeconds", r.uptime_seconds}};
  if (r.served_types) j["resources"] = {{"served", *r.served_types}};
  if (r.rtt_ms) j["tunnel"] = {{"rttMillis", *r.rtt_ms}};
  if (r.cache) {
    Json types = Json::array();
    for (const CachedType& t : r.cache->types) {
      types.push_back({{"resource", t.resource},
                       {"version", t.version},
                       {"objects", t.objects},
                       {"synced", t.synced}});
    }
    j["cache"] = {{"typeCount", r.cache->type_count},
                  {"syncedTypes", r.cache->synced_types},
                  {"objects", r.cache->objects},
                  {"truncated", r.cache->truncated},
                  {"types", std::move(types)}};
  }
  return j;
}

std::string encodeStatusMessage(const ClusterStatusReport& report) {
  Json j = statusReportJson(report);
  j["type"] = "status";
  return j.dump();
}

absl::StatusOr<ClusterStatusReport> parseStatusReport(const Json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("status report: not a JSON object");
  ClusterStatusReport r;
  KH_RETURN_IF_ERROR(readString(j, "kind", "kind", false, kMaxStatusVersionLength, &r.kind));
  if (r.kind != kKindKubernetes && r.kind != kKindHost) {
    return invalid("kind", "must be \"kubernetes\" or \"host\"");
  }
  const Json* host = nullptr;
  KH_RETURN_IF_ERROR(readObject(j, "host", "host", r.kind == kKindHost, &host));
  if (host != nullptr) {
    HostFacts f;
    KH_RETURN_IF_ERROR(readHost(*host, &f));
    r.host = std::move(f);
  }
  const Json* kube = nullptr;
  KH_RETURN_IF_ERROR(readObject(j, "kubernetes", "kubernetes", false, &kube));
  if (kube != nullptr) {
    KH_RETURN_IF_ERROR(readString(*kube, "gitVersion", "kubernetes.gitVersion", false,
                                  kMaxStatusVersionLength, &r.kubernetes_version));
    KH_RETURN_IF_ERROR(readString(*kube, "platform", "kubernetes.platform", false,
                                  kMaxStatusVersionLength, &r.platform));
  }
  const Json* nodes = nullptr;
  KH_RETURN_IF_ERROR(readObject(j, "nodes", "nodes", false, &nodes));
  if (nodes != nullptr) {
    NodeSummary n;
    KH_RETURN_IF_ERROR(
        readRequiredCount(*nodes, "total", "nodes.total", kMaxStatusNodes, &n.total));
    KH_RETURN_IF_ERROR(
        readRequiredCount(*nodes, "ready", "nodes.ready", kMaxStatusNodes, &n.ready));
    if (n.ready > n.total) return invalid("nodes.ready", "must not exceed nodes.total");
    const Json* alloc = nullptr;
    KH_RETURN_IF_ERROR(readObject(*nodes, "allocatable", "nodes.allocatable", true, &alloc));
    KH_RETURN_IF_ERROR(readRequiredCount(*alloc, "cpuMillis", "nodes.allocatable.cpuMillis",
                                         kMaxInt64, &n.cpu_millis));
    KH_RETURN_IF_ERROR(readRequiredCount(*alloc, "memoryBytes", "nodes.allocatable.memoryBytes",
                                         kMaxInt64, &n.memory_bytes));
    r.nodes = n;
  }
  KH_RETURN_IF_ERROR(
      readString(j, "nodesError", "nodesError", false, kMaxStatusErrorLength, &r.nodes_error));
  const Json* agent = nullptr;
  KH_RETURN_IF_ERROR(readObject(j, "agent", "agent", true, &agent));
  KH_RETURN_IF_ERROR(readString(*agent, "version", "agent.version", true, kMaxStatusVersionLength,
                                &r.agent_version));
  KH_RETURN_IF_ERROR(
      readString(*agent, "build", "agent.build", false, kMaxStatusVersionLength, &r.agent_build));
  KH_RETURN_IF_ERROR(readRequiredCount(*agent, "uptimeSeconds", "agent.uptimeSeconds", kMaxInt64,
                                       &r.uptime_seconds));
  const Json* resources = nullptr;
  KH_RETURN_IF_ERROR(readObject(j, "resources", "resources", false, &resources));
  if (resources != nullptr) {
    KH_RETURN_IF_ERROR(
        readCount(*resources, "served", "resources.served", false, 100000, &r.served_types));
  }
  const Json* tunnel = nullptr;
  KH_RETURN_IF_ERROR(readObject(j, "tunnel", "tunnel", false, &tunnel));
  if (tunnel != nullptr) {
    KH_ASSIGN_OR_RETURN(const Json* rtt, member(*tunnel, "rttMillis", "tunnel.rttMillis", false));
    if (rtt != nullptr) {
      if (!rtt->is_number()) return invalid("tunnel.rttMillis", "must be a number");
      double ms = rtt->get<double>();
      if (!std::isfinite(ms) || ms < 0 || ms > 3600e3) {
        return invalid("tunnel.rttMillis", "must be between 0 and 3600000");
      }
      r.rtt_ms = ms;
    }
  }
  const Json* cache = nullptr;
  KH_RETURN_IF_ERROR(readObject(j, "cache", "cache", false, &cache));
  if (cache != nullptr) {
    CacheSummary summary;
    KH_RETURN_IF_ERROR(readCache(*cache, &summary));
    r.cache = std::move(summary);
  }
  return r;
}

absl::StatusOr<ClusterStatusReport> parseStatusMessage(std::string_view message) {
  if (message.size() > kMaxStatusMessage) {
    return absl::InvalidArgumentError("status message of " + std::to_string(message.size()) +
                                      " bytes is over the limit of " +
                                      std::to_string(kMaxStatusMessage));
  }
  Json j = Json::parse(message, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("status message: not a JSON object");
  }
  auto type = j.find("type");
  if (type == j.end() || !type->is_string() || type->get_ref<const std::string&>() != "status") {
    return absl::InvalidArgumentError("status message: \"type\" must be \"status\"");
  }
  return parseStatusReport(j);
}

}  // namespace kubehub::proto
