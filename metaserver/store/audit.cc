#include "metaserver/store/audit.h"

#include "metaserver/store/query.h"

namespace kubehub::metaserver {

namespace {

AuditRecord auditRow(const PgResult& r, int i) {
  return {r.int64(i, 0), r.int64(i, 1), r.str(i, 2),
          r.str(i, 3),   r.str(i, 4),   static_cast<int>(r.int64(i, 5)),
          r.str(i, 6),   r.str(i, 7)};
}

}  // namespace

absl::Status Audit::insertAudit(const AuditRecord& a) {
  return sql::exec(pool_,
                   "INSERT INTO audit_log (actor, action, resource, status, detail, peer) VALUES "
                   "($1, $2, $3, $4, $5, $6)",
                   {a.actor, a.action, a.resource, std::to_string(a.status), a.detail, a.peer});
}

absl::StatusOr<std::vector<AuditRecord>> Audit::listAudit(int limit) {
  return sql::all(pool_,
                  "SELECT id, " KH_SQL_EPOCH("at") ", actor, action, resource, status, detail, "
                                                   "peer FROM audit_log ORDER BY id DESC LIMIT $1",
                  {sql::number(limit)}, auditRow);
}

}  // namespace kubehub::metaserver
