#include "metaserver/store/store.h"

#include "common/status/status_macros.h"
#include "metaserver/store/query.h"

namespace kubehub::metaserver {

Store::Store(std::shared_ptr<PgPool> pool, std::chrono::seconds registry_ttl,
             std::shared_ptr<const SecretBox> box)
    : pool_(std::move(pool)),
      registry_ttl_(registry_ttl),
      box_(box ? std::move(box) : SecretBox::plaintext()),
      identity_(*pool_),
      clusters_(*pool_, registry_ttl_),
      grants_(*pool_),
      credentials_(*pool_, *box_),
      pki_(*pool_, *box_),
      registry_(*pool_, registry_ttl_),
      audit_(*pool_) {}

absl::Status Store::pruneExpired() {
  return sql::transaction(*pool_, [&](PgConnection& c) -> absl::Status {
    std::string dead = std::to_string((registry_ttl_ * 10).count());
    for (const char* statement : {
             "UPDATE clusters cl SET last_seen = GREATEST(cl.last_seen, h.last_heartbeat) FROM "
             "connections k"
             " JOIN hubs h ON h.id = k.hub WHERE k.cluster = cl.name AND h.last_heartbeat < now() "
             "- make_interval(secs => $1)",
             "DELETE FROM hubs WHERE last_heartbeat < now() - make_interval(secs => $1)",
         }) {
      KH_RETURN_IF_ERROR(sql::exec(c, statement, {dead}));
    }
    for (const char* statement : {
             "DELETE FROM bootstrap_tokens WHERE expires_at < now() - interval '1 day' OR used_at "
             "< now() - interval '1 day'",
             "DELETE FROM revocations WHERE expires_at < now() - interval '1 hour'",
             "DELETE FROM tokens WHERE expires_at < now() - interval '30 days'",
         }) {
      KH_RETURN_IF_ERROR(sql::exec(c, statement));
    }
    return absl::OkStatus();
  });
}

}  // namespace kubehub::metaserver
