#pragma once
/// The metaserver's data access, one aggregate per group of tables (each in its own file, its
/// statements written with query.h): identity(), clusters(), grants(), credentials(), pki(),
/// registry(), audit(). They return records and statuses whose messages can be shown to API
/// clients (NotFound, AlreadyExists, FailedPrecondition for conflicts, Unavailable when
/// PostgreSQL is down). Store owns the pool and the SecretBox they share and prunes what
/// expired across tables. Thread-safe.

#include <chrono>
#include <memory>

#include "absl/status/status.h"
#include "metaserver/store/audit.h"
#include "metaserver/store/clusters.h"
#include "metaserver/store/credentials.h"
#include "metaserver/store/grants.h"
#include "metaserver/store/hub_registry.h"
#include "metaserver/store/identity.h"
#include "metaserver/store/page.h"
#include "metaserver/store/pg.h"
#include "metaserver/store/pki.h"
#include "metaserver/store/secret_box.h"

namespace kubehub::metaserver {

class Store {
 public:
  /// `registry_ttl`: a hub whose last heartbeat is older is dead, and so are its connections.
  /// `box` seals the signing keys' and the CA's private keys at rest (plaintext when null).
  Store(std::shared_ptr<PgPool> pool, std::chrono::seconds registry_ttl,
        std::shared_ptr<const SecretBox> box = nullptr);
  // The aggregates hold references into the store.
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  PgPool& pool() { return *pool_; }
  std::chrono::seconds registryTtl() const { return registry_ttl_; }

  Identity& identity() { return identity_; }
  Clusters& clusters() { return clusters_; }
  Grants& grants() { return grants_; }
  Credentials& credentials() { return credentials_; }
  Pki& pki() { return pki_; }
  HubRegistry& registry() { return registry_; }
  Audit& audit() { return audit_; }

  /// Deletes what has expired: dead hubs (and so their connections) after 10 TTLs, used or
  /// expired bootstrap tokens after a day, revocations of tokens expired an hour ago.
  absl::Status pruneExpired();

 private:
  std::shared_ptr<PgPool> pool_;
  std::chrono::seconds registry_ttl_;
  std::shared_ptr<const SecretBox> box_;
  Identity identity_;
  Clusters clusters_;
  Grants grants_;
  Credentials credentials_;
  Pki pki_;
  HubRegistry registry_;
  Audit audit_;
};

}  // namespace kubehub::metaserver
