// Fuzzes the control messages a tunnel carries as JSON: the agent's discovery report (read by the
// hub) and the edge's discovery documents it is made of (read by the agent), the hub's `hubs`
// announcement (read by the agent), the agent's `status` report (read by the hub and the
// metaserver), the metaserver's routing table (read by hubs) and the HELLO/WELCOME handshake. No
// crash, no exception; what parses keeps the documented bounds; a report the agent builds from what
// it read is read by the hub with every type intact; and HELLO/WELCOME re-encode to a payload that
// decodes to the same values.
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

#include "agent/dialer/hubs_message.h"
#include "agent/discovery/resource_list.h"
#include "hub/peer/routing_table.h"
#include "hub/tunnel/discovery_report.h"
#include "proto/cluster_status.h"
#include "proto/handshake.h"

namespace {

using namespace kubehub;

void fuzzHandshake(std::string_view in) {
  if (auto h = proto::decodeHello(in); h.ok()) {
    auto again = proto::decodeHello(proto::encodeHello(*h));
    if (!again.ok() || again->protocol != h->protocol || again->cluster != h->cluster ||
        again->agent_version != h->agent_version || again->capabilities != h->capabilities ||
        again->instance != h->instance || again->connection != h->connection) {
      std::abort();
    }
  }
  if (auto w = proto::decodeWelcome(in); w.ok()) {
    auto again = proto::decodeWelcome(proto::encodeWelcome(*w));
    if (!again.ok() || again->protocol != w->protocol || again->hub_id != w->hub_id ||
        again->max_frame != w->max_frame || again->stream_window != w->stream_window ||
        again->connection_window != w->connection_window ||
        again->ping_interval_ms != w->ping_interval_ms || again->max_streams != w->max_streams ||
        again->capabilities != w->capabilities) {
      std::abort();
    }
  }
}

void fuzzJsonMessages(std::string_view in) {
  auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return;
  if (auto hubs = agent::parseHubsMessage(j); hubs.ok()) {
    if (hubs->hubs.size() > agent::kMaxAnnouncedHubs) std::abort();
    std::set<std::string> urls;
    for (const auto& h : hubs->hubs) {
      if (h.id.empty() || h.id.size() > agent::kMaxHubIdLength) std::abort();
      // Announced URLs are canonical (canonicalising again changes nothing) and distinct.
      auto canonical = agent::canonicalTunnelUrl(h.url);
      if (!canonical.ok() || *canonical != h.url || !urls.insert(h.url).second) std::abort();
    }
  }
  if (auto table = hub::parseRoutingTable(j); table.ok()) {
    for (const auto& [cluster, ids] : table->clusters) (void)table->owners(cluster, "self");
    if (!(*table == *table)) std::abort();
  }
}

/// A status report that parses keeps its bounds and re-encodes to the same values.
void fuzzStatus(std::string_view in) {
  auto r = proto::parseStatusMessage(in);
  if (!r.ok()) return;
  if (r->nodes && (r->nodes->ready > r->nodes->total || r->nodes->total > proto::kMaxStatusNodes))
    std::abort();
  if (r->agent_version.size() > proto::kMaxStatusVersionLength ||
      r->nodes_error.size() > proto::kMaxStatusErrorLength) {
    std::abort();
  }
  if (r->kind != proto::kKindKubernetes && r->kind != proto::kKindHost) std::abort();
  if (r->kind == proto::kKindHost && !r->host) std::abort();
  if (r->host && (r->host->os.size() > proto::kMaxStatusHostText ||
                  r->host->disk_path.size() > proto::kMaxStatusPathLength ||
                  r->host->load1 > proto::kMaxStatusLoad || r->host->cpus < 0)) {
    std::abort();
  }
  auto again = proto::parseStatusMessage(proto::encodeStatusMessage(*r));
  if (!again.ok() || !(*again == *r)) std::abort();
}

void fuzzDiscovery(std::string_view in) {
  (void)agent::parseGroupVersions(in);
  auto types = agent::parseResourceList(in, "apps", "v1");
  if (!types.ok()) return;
  nlohmann::json message = {{"type", "discovery.response"}, {"resources", agent::toJson(*types)}};
  auto report = hub::parseDiscoveryReport(message.dump());
  if (!report.ok() || report->listed != types->size() ||
      report->resources.size() != types->size()) {
    std::abort();
  }
  for (size_t i = 0; i < types->size(); ++i) {
    const auto& a = (*types)[i];
    const auto& b = report->resources[i];
    if (a.group != b.group || a.version != b.version || a.resource != b.resource ||
        a.kind != b.kind || a.namespaced != b.namespaced || a.verbs != b.verbs) {
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto report = hub::parseDiscoveryReport(in); report.ok()) {
    if (report->resources.size() > report->listed) std::abort();
    for (const auto& t : report->resources) (void)t.hasVerb("watch");
  }
  fuzzDiscovery(in);
  fuzzHandshake(in);
  fuzzJsonMessages(in);
  fuzzStatus(in);
  return 0;
}
