#include "metaserver/store/hub_registry.h"

#include <nlohmann/json.hpp>

#include "common/status/status_macros.h"
#include "metaserver/store/query.h"

namespace kubehub::metaserver {

namespace {

// $1: registry TTL in seconds.
#define KH_HUB_COLS \
  "id, addresses::text, agents, load, version, " KH_SQL_EPOCH("registered_at") ", " KH_SQL_EPOCH( \
      "last_heartbeat") ", last_heartbeat > now() - make_interval(secs => $1), draining, "     \
                        "drain_reason"
HubRecord hubRow(const PgResult& r, int i) {
  return {r.str(i, 0),     sql::stringMap(r.get(i, 1)),
          r.int64(i, 2),   r.number(i, 3),
          r.str(i, 4),     r.int64(i, 5),
          r.int64(i, 6),   r.boolean(i, 7),
          r.boolean(i, 8), r.str(i, 9)};
}

EndpointRecord endpointRow(const PgResult& r, int i) {
  return {r.str(i, 0), sql::stringMap(r.get(i, 1)), r.int64(i, 2), r.int64(i, 3)};
}

}  // namespace

absl::StatusOr<HubRecord> HubRegistry::heartbeatHub(const std::string& id,
                                                    const auth::Labels& addresses, int64_t agents,
                                                    double load, const std::string& version,
                                                    const std::string& instance) {
  return sql::transaction(pool_, [&](PgConnection& c) -> absl::StatusOr<HubRecord> {
    // A hub that comes back after its registration expired, or as another process (a new
    // instance id), restarted: its old connections are gone; its agents will be recorded
    // again as they reconnect.
    KH_ASSIGN_OR_RETURN(
        std::optional<bool> restarted,
        sql::maybe(c,
                   "SELECT last_heartbeat <= now() - make_interval(secs => $2) OR ($3 <> '' AND "
                   "instance <> $3) FROM hubs WHERE id = $1 FOR UPDATE",
                   {id, ttl(), instance}, sql::firstBool));
    bool restart = restarted.value_or(false);
    if (restart) KH_RETURN_IF_ERROR(sql::exec(c, "DELETE FROM connections WHERE hub = $1", {id}));
    // A hub registering again (after it left, or its row was pruned) takes its drain mark.
    return sql::one(c,
                    "INSERT INTO hubs (id, addresses, agents, load, version, instance, draining,"
                    " drain_reason) VALUES ($2, $3::jsonb, $4, $5, $6, $8,"
                    " EXISTS (SELECT 1 FROM hub_drains WHERE hub = $2),"
                    " COALESCE((SELECT reason FROM hub_drains WHERE hub = $2), ''))"
                    " ON CONFLICT (id) DO UPDATE SET addresses = EXCLUDED.addresses, agents = "
                    "EXCLUDED.agents,"
                    " load = EXCLUDED.load, version = EXCLUDED.version, last_heartbeat = now(),"
                    " instance = CASE WHEN $8 = '' THEN hubs.instance ELSE $8 END,"
                    " registered_at = CASE WHEN $7 THEN now() ELSE hubs.registered_at END "
                    "RETURNING " KH_HUB_COLS,
                    {ttl(), id, sql::mapJson(addresses), sql::number(agents), std::to_string(load),
                     version, sql::boolean(restart), instance},
                    hubRow);
  });
}

absl::StatusOr<Listed<HubRecord>> HubRegistry::listHubs(bool include_dead, const PageQuery& page) {
  return sql::page(pool_,
                   "SELECT " KH_HUB_COLS
                   " FROM hubs WHERE ($2 OR last_heartbeat > now() - make_interval(secs => "
                   "$1)) AND ($3 = '' OR id > $3) ORDER BY id LIMIT $4",
                   {ttl(), sql::boolean(include_dead)}, page, hubRow);
}

absl::StatusOr<HubRecord> HubRegistry::getHub(const std::string& id) {
  return sql::one(pool_, "SELECT " KH_HUB_COLS " FROM hubs WHERE id = $2", {ttl(), id}, hubRow,
                  sql::about("hub", id));
}

absl::Status HubRegistry::deleteHub(const std::string& id) {
  return sql::transaction(pool_, [&](PgConnection& c) -> absl::Status {
    KH_RETURN_IF_ERROR(sql::exec(c,
                                 "UPDATE clusters SET last_seen = now() WHERE name IN"
                                 " (SELECT cluster FROM connections WHERE hub = $1)",
                                 {id}));
    return sql::change(c, "DELETE FROM hubs WHERE id = $1", {id}, sql::about("hub", id));
  });
}

absl::StatusOr<HubRecord> HubRegistry::setHubDraining(const std::string& id, bool draining,
                                                      const std::string& reason) {
  return sql::transaction(pool_, [&](PgConnection& c) -> absl::StatusOr<HubRecord> {
    // The live row first (migration 008's trigger keeps the mark in hub_drains in step).
    KH_ASSIGN_OR_RETURN(std::optional<HubRecord> hub,
                        sql::maybe(c,
                                   "UPDATE hubs SET draining = $3, drain_reason = $4 WHERE id = $2 "
                                   "RETURNING " KH_HUB_COLS,
                                   {ttl(), id, sql::boolean(draining), reason}, hubRow));
    if (hub) return *hub;
    // Only a registered hub is drained, but a mark outlives the registration: undraining a hub
    // that is away removes it, so the hub comes back in service.
    if (draining) return sql::notFound("hub", id);
    KH_ASSIGN_OR_RETURN(
        std::vector<std::string> unmarked,
        sql::all(c, "DELETE FROM hub_drains WHERE hub = $1 RETURNING hub", {id}, sql::firstText));
    if (unmarked.empty()) return sql::notFound("hub", id);
    HubRecord away;
    away.id = id;
    return away;
  });
}

absl::Status HubRegistry::putConnection(const std::string& cluster, const std::string& hub) {
  return sql::run(pool_, [&](PgConnection& c) -> absl::Status {
    KH_ASSIGN_OR_RETURN(bool disabled,
                        sql::one(c, "SELECT disabled FROM clusters WHERE name = $1", {cluster},
                                 sql::firstBool, sql::about("cluster", cluster)));
    if (disabled) {
      return absl::FailedPreconditionError("cluster \"" + cluster +
                                           "\" is disabled: its agent must not be served");
    }
    return sql::exec(
        c,
        "INSERT INTO connections (cluster, hub) VALUES ($1, $2)"
        " ON CONFLICT (cluster, hub) DO UPDATE SET last_seen = now()",
        {cluster, hub},
        sql::Errors().ifReferenced(absl::NotFoundError(
            "hub \"" + hub + "\" is not registered: PUT /api/v1/hubs/" + hub + " first")));
  });
}

absl::Status HubRegistry::deleteConnection(const std::string& cluster, const std::string& hub) {
  return sql::transaction(pool_, [&](PgConnection& c) -> absl::Status {
    KH_RETURN_IF_ERROR(
        sql::change(c, "DELETE FROM connections WHERE cluster = $1 AND hub = $2", {cluster, hub},
                    sql::Errors().ifMissing(absl::NotFoundError(
                        "cluster \"" + cluster + "\" has no connection on hub \"" + hub + "\""))));
    return sql::exec(c, "UPDATE clusters SET last_seen = now() WHERE name = $1", {cluster});
  });
}

absl::StatusOr<std::vector<std::string>> HubRegistry::putClusterStatus(
    const std::string& hub, const std::vector<ClusterStatusUpdate>& updates) {
  if (updates.empty()) return std::vector<std::string>();
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& u : updates) {
    nlohmann::json report = nlohmann::json::parse(u.report, nullptr, false);
    if (report.is_discarded()) return absl::InvalidArgumentError("a status report is not JSON");
    rows.push_back({{"cluster", u.cluster}, {"report", std::move(report)}});
  }
  // One statement for the whole batch: a hub sends up to hundreds at once.
  return sql::all(
      pool_,
      "UPDATE clusters c SET status = u.report, status_reported_at = now(), status_hub = $1"
      " FROM jsonb_to_recordset($2::jsonb) AS u(cluster text, report jsonb)"
      " WHERE c.name = u.cluster"
      "   AND EXISTS (SELECT 1 FROM connections k WHERE k.cluster = c.name AND k.hub = $1)"
      " RETURNING c.name",
      {hub, rows.dump()}, sql::firstText);
}

absl::StatusOr<std::vector<EndpointRecord>> HubRegistry::endpoints(const std::string& cluster) {
  return sql::run(pool_, [&](PgConnection& c) -> absl::StatusOr<std::vector<EndpointRecord>> {
    KH_RETURN_IF_ERROR(sql::one(c, "SELECT 1 FROM clusters WHERE name = $1", {cluster},
                                sql::firstText, sql::about("cluster", cluster))
                           .status());
    return sql::all(c,
                    "SELECT k.hub, h.addresses::text, " KH_SQL_EPOCH("k.connected_at") ", " KH_SQL_EPOCH(
                        "h.last_heartbeat") " FROM connections k JOIN hubs h ON h.id = k.hub"
                                            " WHERE k.cluster = $1 AND h.last_heartbeat > now() - "
                                            "make_interval(secs => $2)"
                                            " ORDER BY h.last_heartbeat DESC, k.hub",
                    {cluster, ttl()}, endpointRow);
  });
}

absl::StatusOr<RoutingTable> HubRegistry::routingTable() {
  return sql::transaction(pool_, [&](PgConnection& c) -> absl::StatusOr<RoutingTable> {
    // Both reads see one snapshot: a connection never names a hub missing from the list.
    KH_RETURN_IF_ERROR(sql::exec(c, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"));
    RoutingTable out;
    KH_ASSIGN_OR_RETURN(out.hubs,
                        sql::all(c,
                                 "SELECT " KH_HUB_COLS " FROM hubs WHERE last_heartbeat > now() - "
                                 "make_interval(secs => $1)"
                                 " ORDER BY id",
                                 {ttl()}, hubRow));
    KH_ASSIGN_OR_RETURN(
        out.connections,
        sql::all(c,
                 "SELECT k.cluster, k.hub FROM connections k JOIN hubs h ON h.id = k.hub"
                 " WHERE h.last_heartbeat > now() - make_interval(secs => $1)"
                 " ORDER BY k.cluster, k.connected_at, k.hub",
                 {ttl()}, [](const PgResult& r, int i) {
                   return RoutingTable::Connection{r.str(i, 0), r.str(i, 1)};
                 }));
    return out;
  });
}

absl::Status HubRegistry::announceExpiredHubs(std::chrono::seconds window) {
  // A little overlap between calls: announcing one expiry twice costs a hub one 304.
  return sql::exec(
      pool_,
      "WITH expired AS (SELECT 1 FROM hubs WHERE last_heartbeat <= now() - make_interval(secs "
      "=> $1::float8) AND last_heartbeat > now() - make_interval(secs => $1::float8 + "
      "$2::float8) LIMIT 1), "
      "bumped AS (UPDATE change_feeds SET generation = generation + 1 WHERE feed = 'routes' "
      "AND EXISTS (SELECT 1 FROM expired) RETURNING 1) "
      "SELECT pg_notify('kubehub_changes', 'routes') FROM bumped",
      {ttl(), sql::number(window.count() + 1)});
}

}  // namespace kubehub::metaserver
