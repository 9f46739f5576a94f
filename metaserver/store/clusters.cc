#include "metaserver/store/clusters.h"

#include "common/status/status_macros.h"
#include "metaserver/store/query.h"

namespace kubehub::metaserver {

namespace {

// clang-format off
// $1: registry TTL in seconds.
constexpr const char* kClusterSelect =
    "SELECT c.name, c.labels::text, c.description, c.disabled, " KH_SQL_EPOCH("c.created_at") ","
    " COALESCE((SELECT json_agg(h.id ORDER BY h.id)::text FROM connections k JOIN hubs h ON h.id = k.hub"
    "           WHERE k.cluster = c.name AND h.last_heartbeat > now() - make_interval(secs => $1)), '[]'),"
    " " KH_SQL_EPOCH("GREATEST(c.last_seen, c.status_reported_at, (SELECT max(GREATEST(h.last_heartbeat,"
    "   k.last_seen)) FROM connections k JOIN hubs h ON h.id = k.hub WHERE k.cluster = c.name))") ","
    " " KH_SQL_EPOCH("(SELECT min(k.connected_at) FROM connections k JOIN hubs h ON h.id = k.hub"
    "   WHERE k.cluster = c.name AND h.last_heartbeat > now() - make_interval(secs => $1))") ","
    " COALESCE(c.status::text, ''), " KH_SQL_EPOCH("c.status_reported_at") ", c.status_hub"
    " FROM clusters c";
// clang-format on

ClusterRecord clusterRow(const PgResult& r, int i) {
  ClusterRecord c;
  c.name = r.str(i, 0);
  c.labels = sql::stringMap(r.get(i, 1));
  c.description = r.str(i, 2);
  c.disabled = r.boolean(i, 3);
  c.created_at = r.int64(i, 4);
  c.hubs = sql::stringArray(r.get(i, 5));
  c.last_seen = sql::optInt(r, i, 6);
  c.connected_since = sql::optInt(r, i, 7);
  c.report = r.str(i, 8);
  c.reported_at = sql::optInt(r, i, 9);
  c.reported_by = r.str(i, 10);
  return c;
}

}  // namespace

absl::StatusOr<ClusterRecord> Clusters::createCluster(const ClusterRecord& cl) {
  KH_RETURN_IF_ERROR(sql::exec(
      pool_,
      "INSERT INTO clusters (name, labels, description, disabled) VALUES ($1, $2::jsonb, $3, $4)",
      {cl.name, sql::mapJson(cl.labels), cl.description, sql::boolean(cl.disabled)},
      sql::about("cluster", cl.name)));
  return getCluster(cl.name);
}

absl::StatusOr<Listed<ClusterRecord>> Clusters::listClusters(const PageQuery& page) {
  return sql::page(
      pool_,
      std::string(kClusterSelect) + " WHERE ($2 = '' OR c.name > $2) ORDER BY c.name LIMIT $3",
      {sql::number(registry_ttl_.count())}, page, clusterRow);
}

absl::StatusOr<ClusterRecord> Clusters::getCluster(const std::string& name) {
  return sql::one(pool_, std::string(kClusterSelect) + " WHERE c.name = $2",
                  {sql::number(registry_ttl_.count()), name}, clusterRow,
                  sql::about("cluster", name));
}

absl::StatusOr<ClusterRecord> Clusters::updateCluster(const std::string& name,
                                                      const ClusterPatch& p) {
  PgParam labels = p.labels ? PgParam(sql::mapJson(*p.labels)) : std::nullopt;
  PgParam disabled = p.disabled ? PgParam(sql::boolean(*p.disabled)) : std::nullopt;
  KH_RETURN_IF_ERROR(sql::change(
      pool_,
      "UPDATE clusters SET labels = COALESCE($2::jsonb, labels), description = COALESCE($3, "
      "description),"
      " disabled = COALESCE($4::boolean, disabled) WHERE name = $1",
      {name, labels, p.description, disabled}, sql::about("cluster", name)));
  return getCluster(name);
}

absl::Status Clusters::deleteCluster(const std::string& name) {
  return sql::change(pool_, "DELETE FROM clusters WHERE name = $1", {name},
                     sql::about("cluster", name));
}

}  // namespace kubehub::metaserver
