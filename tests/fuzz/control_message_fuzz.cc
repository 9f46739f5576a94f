// Fuzzes the control messages a tunnel carries as JSON: every typed message of proto/control.h,
// the agent's discovery report (read by the hub) and the edge's discovery documents it is made of
// (read by the agent), the hub's `hubs` announcement (read by the agent), the agent's `status`
// report (read by the hub and the metaserver), the metaserver's routing table (read by hubs) and
// the HELLO/WELCOME handshake. No crash, no exception; what parses keeps the documented bounds; a
// report the agent builds from what it read is read by the hub with every type intact; and every
// typed message re-encodes to bytes that parse to the same values (parse, encode, parse is
// stable).
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>

#include "agent/dialer/hubs_message.h"
#include "agent/discovery/resource_list.h"
#include "hub/peer/routing_table.h"
#include "proto/cluster_status.h"
#include "proto/control.h"
#include "proto/discovery_report.h"
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

/// parse → encode → parse gives the same value, and encoding it again the same bytes.
template <typename T, typename Parse, typename Encode>
void roundTrip(std::string_view in, Parse parse, Encode encode) {
  absl::StatusOr<T> first = parse(in);
  if (!first.ok()) return;
  std::string bytes = encode(*first);
  absl::StatusOr<T> again = parse(bytes);
  if (!again.ok() || !(*again == *first) || encode(*again) != bytes) std::abort();
}

void fuzzTypedControl(std::string_view in) {
  (void)proto::controlType(in);
  roundTrip<proto::DiscoveryRequest>(in, proto::parseDiscoveryRequest,
                                     proto::encodeDiscoveryRequest);
  roundTrip<proto::DiscoveryError>(in, proto::parseDiscoveryError, proto::encodeDiscoveryError);
  roundTrip<proto::Move>(in, proto::parseMove, proto::encodeMove);
  roundTrip<proto::Leaving>(in, proto::parseLeaving, proto::encodeLeaving);
  if (auto m = proto::parseMove(in); m.ok()) {
    if (m->to.size() > proto::kMaxMoveTargets || m->reason.size() > proto::kMaxControlText)
      std::abort();
    for (const auto& id : m->to) {
      if (!proto::isHubId(id)) std::abort();
    }
  }
  if (auto hubs = proto::parseHubs(in); hubs.ok()) {
    if (hubs->hubs.size() > proto::kMaxAnnouncedHubs) std::abort();
    std::string bytes = proto::encodeHubs(*hubs);
    auto again = proto::parseHubs(bytes);
    // Skipped entries are not encoded: the second reading keeps every hub and skips none.
    if (!again.ok() || again->hubs != hubs->hubs || !again->skipped.empty() ||
        proto::encodeHubs(*again) != bytes) {
      std::abort();
    }
  }
  // The response passes the API server's documents through: compared as bytes (a number JSON
  // cannot hold exactly reads back as what it was written as).
  if (auto r = proto::parseDiscoveryResponse(in); r.ok()) {
    std::string bytes = proto::encodeDiscoveryResponse(*r);
    auto again = proto::parseDiscoveryResponse(bytes);
    if (!again.ok() || proto::encodeDiscoveryResponse(*again) != bytes) std::abort();
    if (!again->resources.is_array() || !again->server_version.is_object()) std::abort();
  }
}

void fuzzJsonMessages(std::string_view in) {
  if (auto hubs = agent::parseHubsMessage(in); hubs.ok()) {
    if (hubs->hubs.size() > agent::kMaxAnnouncedHubs) std::abort();
    std::set<std::string> urls;
    for (const auto& h : hubs->hubs) {
      if (h.id.empty() || h.id.size() > agent::kMaxHubIdLength) std::abort();
      // Announced URLs are canonical (canonicalising again changes nothing) and distinct.
      auto canonical = agent::canonicalTunnelUrl(h.url);
      if (!canonical.ok() || *canonical != h.url || !urls.insert(h.url).second) std::abort();
    }
  }
  auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return;
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
  proto::DiscoveryResponse message;
  message.resources = agent::toJson(*types);
  auto report = proto::parseDiscoveryReport(proto::encodeDiscoveryResponse(message));
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
  if (auto report = proto::parseDiscoveryReport(in); report.ok()) {
    if (report->resources.size() > report->listed) std::abort();
    for (const auto& t : report->resources) (void)t.hasVerb("watch");
  }
  fuzzDiscovery(in);
  fuzzHandshake(in);
  fuzzTypedControl(in);
  fuzzJsonMessages(in);
  fuzzStatus(in);
  return 0;
}
