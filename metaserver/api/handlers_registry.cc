// The registry: hubs heartbeat, record which clusters' tunnels they hold, and look up which
// hub holds a cluster. A hub's token changes only its own hub's entries (checkActsForHub):
// otherwise one hub could deregister another, or claim its clusters and steer their users and
// agents to itself. Reads stay open to every hub (they route to each other).
#include <set>

#include "absl/strings/numbers.h"
#include "common/status/status_macros.h"
#include "metaserver/api/api_server.h"
#include "metaserver/api/paging.h"

namespace kubehub::metaserver {

namespace {

absl::StatusOr<std::string> hubParam(const Call& c) {
  auto hub = c.query("hub");
  if (!hub || hub->empty()) return badRequest("query parameter \"hub\" is required");
  KH_RETURN_IF_ERROR(checkHubId(*hub));
  return *hub;
}

}  // namespace

absl::StatusOr<Reply> ApiServer::listHubs(Call& c) {
  bool all = c.query("all").value_or("") == "true";
  KH_ASSIGN_OR_RETURN(PageQuery page, parsePage(c.query("limit"), c.query("continue"), "hubs", 1));
  KH_ASSIGN_OR_RETURN(auto list, store_->registry().listHubs(all, page));
  Json items = Json::array();
  for (const auto& h : list.items) items.push_back(toJson(h));
  Json body = pagedItems(std::move(items), "hubs", list.next);
  body["ttlSeconds"] = store_->registryTtl().count();
  return jsonReply(200, body);
}

absl::StatusOr<Reply> ApiServer::getHub(Call& c) {
  KH_RETURN_IF_ERROR(checkHubId(c.param("hub")));
  KH_ASSIGN_OR_RETURN(HubRecord h, store_->registry().getHub(c.param("hub")));
  return jsonReply(200, toJson(h));
}

absl::StatusOr<Reply> ApiServer::heartbeatHub(Call& c) {
  const std::string& id = c.param("hub");
  KH_RETURN_IF_ERROR(checkHubId(id));
  KH_RETURN_IF_ERROR(checkActsForHub(c.principal, id));
  KH_ASSIGN_OR_RETURN(Json body, requestJson(c.request, true));
  KH_ASSIGN_OR_RETURN(HubHeartbeat hb, decodeHubHeartbeat(body));
  KH_ASSIGN_OR_RETURN(
      HubRecord h, store_->registry().heartbeatHub(id, hb.addresses, hb.agents, hb.load, hb.version,
                                                   hb.instance));
  Json j = toJson(h);
  j["ttlSeconds"] = store_->registryTtl().count();
  Reply r = jsonReply(200, j);
  r.audit_detail = "hub=" + id + " agents=" + std::to_string(hb.agents);
  return r;
}

// Clusters' status reports, batched by the hub holding their tunnels. Stored only for clusters
// whose tunnel that hub holds: a hub cannot speak for another hub's clusters.
absl::StatusOr<Reply> ApiServer::reportClusterStatus(Call& c) {
  const std::string& id = c.param("hub");
  KH_RETURN_IF_ERROR(checkHubId(id));
  KH_RETURN_IF_ERROR(checkActsForHub(c.principal, id));
  KH_ASSIGN_OR_RETURN(Json body, requestJson(c.request));
  KH_ASSIGN_OR_RETURN(auto updates, decodeClusterStatusBatch(body));
  KH_ASSIGN_OR_RETURN(auto stored, store_->registry().putClusterStatus(id, updates));
  std::set<std::string> kept(stored.begin(), stored.end());
  Json skipped = Json::array();
  for (const auto& u : updates) {
    if (!kept.count(u.cluster)) skipped.push_back(u.cluster);
  }
  Reply r = jsonReply(200, Json{{"stored", stored.size()}, {"skipped", skipped}});
  r.audit_detail = "hub=" + id + " reports=" + std::to_string(updates.size());
  return r;
}

absl::StatusOr<Reply> ApiServer::drainHub(Call& c) {
  const std::string& id = c.param("hub");
  KH_RETURN_IF_ERROR(checkHubId(id));
  std::string reason = "drained by " + c.principal.actor();
  if (!c.request.body.empty()) {
    KH_ASSIGN_OR_RETURN(Json body, requestJson(c.request));
    ObjectReader rd(body, "drain");
    std::string given;
    KH_RETURN_IF_ERROR(rd.str("reason", &given, false, 256));
    KH_RETURN_IF_ERROR(rd.finish());
    if (!given.empty()) reason = given;
  }
  KH_ASSIGN_OR_RETURN(HubRecord h, store_->registry().setHubDraining(id, true, reason));
  Reply r = jsonReply(200, toJson(h));
  r.audit_detail = "hub=" + id + " draining";
  return r;
}

absl::StatusOr<Reply> ApiServer::undrainHub(Call& c) {
  const std::string& id = c.param("hub");
  KH_RETURN_IF_ERROR(checkHubId(id));
  KH_ASSIGN_OR_RETURN(HubRecord h, store_->registry().setHubDraining(id, false, ""));
  Reply r = jsonReply(200, toJson(h));
  r.audit_detail = "hub=" + id + " undrained";
  return r;
}

absl::StatusOr<Reply> ApiServer::deleteHub(Call& c) {
  KH_RETURN_IF_ERROR(checkHubId(c.param("hub")));
  KH_RETURN_IF_ERROR(checkActsForHub(c.principal, c.param("hub")));
  KH_RETURN_IF_ERROR(store_->registry().deleteHub(c.param("hub")));
  Reply r;
  r.status = 204;
  r.audit_detail = "hub=" + c.param("hub");
  return r;
}

absl::StatusOr<Reply> ApiServer::putConnection(Call& c) {
  const std::string& cluster = c.param("cluster");
  KH_RETURN_IF_ERROR(checkDnsLabel("cluster", cluster));
  KH_ASSIGN_OR_RETURN(Json body, requestJson(c.request));
  ObjectReader rd(body, "connection");
  std::string hub;
  KH_RETURN_IF_ERROR(rd.str("hub", &hub, true, 253));
  KH_RETURN_IF_ERROR(rd.finish());
  KH_RETURN_IF_ERROR(checkHubId(hub));
  KH_RETURN_IF_ERROR(checkActsForHub(c.principal, hub));
  KH_RETURN_IF_ERROR(store_->registry().putConnection(cluster, hub));
  KH_ASSIGN_OR_RETURN(auto eps, store_->registry().endpoints(cluster));
  Reply r = jsonReply(200, toJson(ClusterEndpoints{cluster, std::move(eps)}));
  r.audit_detail = "cluster=" + cluster + " hub=" + hub;
  return r;
}

absl::StatusOr<Reply> ApiServer::deleteConnection(Call& c) {
  const std::string& cluster = c.param("cluster");
  KH_RETURN_IF_ERROR(checkDnsLabel("cluster", cluster));
  KH_ASSIGN_OR_RETURN(std::string hub, hubParam(c));
  KH_RETURN_IF_ERROR(checkActsForHub(c.principal, hub));
  KH_RETURN_IF_ERROR(store_->registry().deleteConnection(cluster, hub));
  Reply r;
  r.status = 204;
  r.audit_detail = "cluster=" + cluster + " hub=" + hub;
  return r;
}

absl::StatusOr<Reply> ApiServer::getEndpoints(Call& c) {
  const std::string& cluster = c.param("cluster");
  KH_RETURN_IF_ERROR(checkDnsLabel("cluster", cluster));
  KH_ASSIGN_OR_RETURN(auto eps, store_->registry().endpoints(cluster));
  return jsonReply(200, toJson(ClusterEndpoints{cluster, std::move(eps)}));
}

namespace {

/// FNV-1a, 64 bits: the same answer gives the same tag in every metaserver replica.
std::string entityTag(std::string_view text) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char ch : text) {
    h ^= ch;
    h *= 1099511628211ull;
  }
  char out[20];
  std::snprintf(out, sizeof(out), "%016llx", static_cast<unsigned long long>(h));
  return std::string("\"") + out + "\"";
}

}  // namespace

// Hubs ask several times a second (a route change must reach every hub within a second), so an
// unchanged table is answered 304 against the tag the hub holds: no body to send or parse.
absl::StatusOr<Reply> ApiServer::getRoutes(Call& c) {
  KH_ASSIGN_OR_RETURN(RoutingTable table, store_->registry().routingTable());
  Json j = toJson(table);
  j["ttlSeconds"] = store_->registryTtl().count();
  std::string text = j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
  std::string tag = entityTag(text);
  Reply r;
  r.headers.emplace_back("ETag", tag);
  r.content_type = "application/json";
  if (c.request.header("If-None-Match").value_or("") == tag) {
    r.status = 304;
    return r;
  }
  r.text = std::move(text);
  return r;
}

namespace {

net::HttpResponse changesAnswer(const ChangeFeed::Generations& g) {
  if (g.empty()) {
    return net::jsonError(503,
                          "the change feed is unavailable right now (the metaserver is "
                          "reconnecting to its database): poll the feeds instead");
  }
  ChangesPage page{ChangeFeed::format(g), {}};
  for (const auto& [feed, generation] : g) page.feeds.emplace(feed, generation);
  net::HttpResponse r;
  r.body = toJson(page).dump() + "\n";
  return r;
}

}  // namespace

// A long poll: a hub holds one open and fetches only the feeds that moved, so an idle fleet
// costs one request per hub per `wait`, and a change reaches every hub in one round trip.
absl::StatusOr<Reply> ApiServer::watchChanges(Call& c) {
  if (!changes_) return absl::UnavailableError("this metaserver serves no change feed");
  ChangeFeed::Generations since;
  if (auto q = c.query("since")) {
    auto parsed = ChangeFeed::parse(*q);
    if (!parsed.ok()) return badRequest(std::string(parsed.status().message()));
    since = std::move(*parsed);
  }
  int64_t wait_seconds = 0;
  if (auto q = c.query("wait")) {
    if (!absl::SimpleAtoi(*q, &wait_seconds) || wait_seconds < 0 || wait_seconds > 60) {
      return badRequest("wait must be whole seconds from 0 to 60");
    }
  }
  auto feed = changes_;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_seconds);
  auto deferred = std::make_shared<net::HttpDeferred>();
  deferred->deadline = deadline;
  deferred->start = [feed, since, deadline](std::function<void(net::HttpResponse)> complete) {
    feed->wait(since, deadline,
               [complete](const ChangeFeed::Generations& g) { complete(changesAnswer(g)); });
  };
  deferred->on_timeout = [feed] { return changesAnswer(feed->current()); };
  Reply r;
  r.deferred = std::move(deferred);
  return r;
}

}  // namespace kubehub::metaserver
