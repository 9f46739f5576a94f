#pragma once
/// The metaserver's data access: every SQL statement the metaserver runs against its tables
/// (parameterised, through PgPool), returning records and statuses whose messages can be
/// shown to API clients (NotFound, AlreadyExists, FailedPrecondition for conflicts,
/// Unavailable when PostgreSQL is down). Thread-safe.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "metaserver/model/records.h"
#include "metaserver/store/pg.h"
#include "metaserver/store/secret_box.h"

namespace kubehub::metaserver {
/// One page of a list, in the list's order: at most `limit` rows (0: all of them) after the row
/// whose sort key is `after` (empty: from the start). The key's columns are the store's business:
/// callers hand back what the previous page's `next` held.
struct PageQuery {
  std::vector<std::string> after;
  int limit = 0;
};

template <class T>
struct Listed {
  std::vector<T> items;
  /// The last row's sort key when more rows follow; empty on the last page.
  std::vector<std::string> next;
};

class Store {
 public:
  /// `registry_ttl`: a hub whose last heartbeat is older is dead, and so are its connections.
  /// `box` seals the signing keys' and the CA's private keys at rest (plaintext when null).
  Store(std::shared_ptr<PgPool> pool, std::chrono::seconds registry_ttl,
        std::shared_ptr<const SecretBox> box = nullptr);

  PgPool& pool() { return *pool_; }
  std::chrono::seconds registryTtl() const { return registry_ttl_; }

  // Tenants.
  absl::StatusOr<TenantRecord> createTenant(const TenantRecord& t);
  absl::StatusOr<Listed<TenantRecord>> listTenants(const PageQuery& page = {});
  absl::StatusOr<TenantRecord> getTenant(const std::string& name);
  /// Bans or lifts the ban of a tenant (all its users' tokens are refused while it is disabled).
  absl::StatusOr<TenantRecord> setTenantBan(const std::string& name, const BanPatch& ban);
  /// FailedPrecondition while the tenant still has users or grants.
  absl::Status deleteTenant(const std::string& name);

  // Users.
  absl::StatusOr<UserRecord> createUser(const UserRecord& u);
  absl::StatusOr<Listed<UserRecord>> listUsers(const std::string& tenant,  // "" = all
                                               const PageQuery& page = {});
  absl::StatusOr<UserRecord> getUser(const std::string& name);
  absl::StatusOr<UserRecord> setUserBan(const std::string& name, const BanPatch& ban);
  /// Deletes the user's grants and revokes every live token of theirs.
  absl::Status deleteUser(const std::string& name);

  /// Every disabled user, tenant and cluster: one statement over partial indexes, cheap enough
  /// for every hub to poll twice a second.
  absl::StatusOr<BanList> bans();

  // Clusters (with their registry status).
  absl::StatusOr<ClusterRecord> createCluster(const ClusterRecord& c);
  absl::StatusOr<Listed<ClusterRecord>> listClusters(const PageQuery& page = {});
  absl::StatusOr<ClusterRecord> getCluster(const std::string& name);
  absl::StatusOr<ClusterRecord> updateCluster(const std::string& name, const ClusterPatch& patch);
  absl::Status deleteCluster(const std::string& name);

  // Grants.
  absl::StatusOr<GrantRecord> createGrant(const auth::Grant& g);
  absl::StatusOr<Listed<GrantRecord>> listGrants(const std::string& tenant, const std::string& user,
                                                 const PageQuery& page = {});
  absl::StatusOr<GrantRecord> getGrant(const std::string& name);
  absl::Status deleteGrant(const std::string& name);

  // Tokens and their revocation feed.
  absl::Status insertToken(const TokenRecord& t, const std::string& token_hash);
  /// In the order they were issued.
  absl::StatusOr<Listed<TokenRecord>> listTokens(const std::string& tenant, const std::string& user,
                                                 const PageQuery& page = {});
  absl::StatusOr<TokenRecord> getToken(const std::string& id);
  /// Revokes (idempotently) and publishes the revocation in the feed.
  absl::StatusOr<TokenRecord> revokeToken(const std::string& id);
  /// NotFound when the token id was never issued.
  absl::StatusOr<TokenState> tokenState(const std::string& id);
  absl::StatusOr<RevocationPage> revocationsSince(int64_t since, int limit);

  // Signing keys.
  absl::StatusOr<std::vector<SigningKeyRecord>> signingKeys();
  /// Makes `key` the active key; the previous one stays published for verification.
  absl::Status rotateSigningKey(const SigningKeyRecord& key);

  // The tunnel CA and certificates.
  absl::StatusOr<std::optional<CaRecord>> loadCa();
  absl::Status recordCertificate(const CertificateRecord& c);
  absl::Status createBootstrapToken(const std::string& id, const std::string& cluster,
                                    const std::string& token_hash, int64_t expires_at,
                                    const std::string& created_by);
  /// Marks an unused, unexpired bootstrap token of `cluster` used; PermissionDenied otherwise.
  absl::Status consumeBootstrapToken(const std::string& cluster, const std::string& token_hash);
  /// Whether such a token exists, is unused and unexpired (without consuming it).
  absl::StatusOr<bool> bootstrapTokenValid(const std::string& cluster,
                                           const std::string& token_hash);

  // Registry.
  /// `instance`: the hub process's random id ("" from hubs that send none); a different one
  /// than last time is a restart, which drops the hub's connections.
  absl::StatusOr<HubRecord> heartbeatHub(const std::string& id, const auth::Labels& addresses,
                                         int64_t agents, double load, const std::string& version,
                                         const std::string& instance = {});
  absl::StatusOr<Listed<HubRecord>> listHubs(bool include_dead, const PageQuery& page = {});
  absl::StatusOr<HubRecord> getHub(const std::string& id);
  absl::Status deleteHub(const std::string& id);
  /// Drains (or undrains) a registered hub; NotFound for an unknown one.
  absl::StatusOr<HubRecord> setHubDraining(const std::string& id, bool draining,
                                           const std::string& reason);
  absl::Status putConnection(const std::string& cluster, const std::string& hub);
  absl::Status deleteConnection(const std::string& cluster, const std::string& hub);
  absl::StatusOr<std::vector<EndpointRecord>> endpoints(const std::string& cluster);
  /// Stores clusters' status reports forwarded by `hub`; only for clusters whose tunnel `hub`
  /// holds (a connection), others are skipped. Returns the clusters stored.
  absl::StatusOr<std::vector<std::string>> putClusterStatus(
      const std::string& hub, const std::vector<ClusterStatusUpdate>& updates);
  /// Live hubs and every connection of theirs, read in one statement (one snapshot).
  absl::StatusOr<RoutingTable> routingTable();

  // Audit.
  absl::Status insertAudit(const AuditRecord& a);
  absl::StatusOr<std::vector<AuditRecord>> listAudit(int limit);

  /// Deletes what has expired: dead hubs (and so their connections) after 10 TTLs, used or
  /// expired bootstrap tokens after a day, revocations of tokens expired an hour ago.
  absl::Status pruneExpired();
  /// Announces on the routes change feed the hubs whose registration expired in the last
  /// `window` (no write says so otherwise: their heartbeats just stopped). Call every `window`.
  absl::Status announceExpiredHubs(std::chrono::seconds window);

 private:
  std::shared_ptr<PgPool> pool_;
  std::chrono::seconds registry_ttl_;
  std::shared_ptr<const SecretBox> box_;
};

/// Where a sealed private key is stored: the context it is bound to.
std::string signingKeyContext(const std::string& kid);
inline constexpr std::string_view kCaKeyContext = "certificate_authority/1";

/// Start-up, under an advisory lock so that replicas starting at once agree: the active
/// signing key (generated when there is none) and the CA (generated when there is none and
/// none is given). `make_key` and `make_ca` generate new material.
/// Private keys stored unsealed, or sealed under another key than `box`'s first, are sealed
/// again under it (a rotation of the envelope key, or encryption configured for the first
/// time); the count is logged.
absl::Status bootstrapSecrets(PgPool& pool,
                              const std::function<absl::StatusOr<SigningKeyRecord>()>& make_key,
                              const std::function<absl::StatusOr<CaRecord>()>& make_ca,
                              bool need_ca, const SecretBox& box);

}  // namespace kubehub::metaserver
