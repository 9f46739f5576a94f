#pragma once
/// The metaserver's resources as plain values: what the store reads and writes and the API
/// encodes. Times are seconds since the epoch.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/auth/grant.h"

namespace kubehub::metaserver {

/// Whether a user or tenant is banned: its tokens are refused by the metaserver and by hubs.
struct Ban {
  bool disabled = false;
  std::optional<int64_t> since;  // set exactly when disabled
  std::string reason;            // free text from the admin; "" when none
  bool operator==(const Ban&) const = default;
};

struct TenantRecord {
  std::string name;
  std::string description;
  int64_t created_at = 0;
  Ban ban;
  bool operator==(const TenantRecord&) const = default;
};

/// Metaserver API roles a user may hold.
inline constexpr std::string_view kRoleAdmin = "admin";
inline constexpr std::string_view kRoleHub = "hub";

struct UserRecord {
  std::string name;
  std::string tenant;
  std::vector<std::string> groups;
  std::vector<std::string> roles;
  std::string description;
  int64_t created_at = 0;
  Ban ban;
  bool operator==(const UserRecord&) const = default;
};

/// PATCH of a user or tenant: ban or lift the ban. `reason` only with disabled = true; when
/// absent, re-disabling keeps the current reason.
struct BanPatch {
  bool disabled = false;
  std::optional<std::string> reason;
  bool operator==(const BanPatch&) const = default;
};

/// What is banned right now (GET /api/v1/bans), each list ordered by name.
struct BanList {
  struct Entry {
    std::string name;
    std::string tenant;  // users only
    std::string reason;
    std::optional<int64_t> since;  // users and tenants
    bool operator==(const Entry&) const = default;
  };
  std::vector<Entry> users;
  std::vector<Entry> tenants;
  std::vector<Entry> clusters;
  bool operator==(const BanList&) const = default;
};

struct ClusterRecord {
  std::string name;
  auth::Labels labels;
  std::string description;
  bool disabled = false;
  int64_t created_at = 0;
  // Status, from the registry: hubs holding the cluster's tunnel right now.
  std::vector<std::string> hubs;
  std::optional<int64_t> last_seen;
  /// Since when its tunnel has been held without a break (the oldest live connection).
  std::optional<int64_t> connected_since;
  /// The agent's latest status report (JSON, proto/cluster_status.h), "" when none came yet;
  /// when it came and through which hub.
  std::string report;
  std::optional<int64_t> reported_at;
  std::string reported_by;
  bool operator==(const ClusterRecord&) const = default;
};

/// One cluster's status report as a hub forwards it.
struct ClusterStatusUpdate {
  std::string cluster;
  std::string report;  // JSON object, checked
  bool operator==(const ClusterStatusUpdate&) const = default;
};

/// A partial update of a cluster (PATCH): unset fields stay as they are.
struct ClusterPatch {
  std::optional<auth::Labels> labels;
  std::optional<std::string> description;
  std::optional<bool> disabled;
  bool operator==(const ClusterPatch&) const = default;
};

struct GrantRecord {
  auth::Grant grant;
  int64_t created_at = 0;
  bool operator==(const GrantRecord&) const = default;
};

struct TokenRecord {
  std::string id;
  std::string user;
  std::string tenant;
  std::string description;
  std::string kid;
  int64_t issued_at = 0;
  int64_t expires_at = 0;
  std::optional<int64_t> revoked_at;
  std::string issued_by;
  bool operator==(const TokenRecord&) const = default;
};

/// What authenticating a token needs from the database.
struct TokenState {
  bool revoked = false;
  bool user_exists = false;
  bool user_disabled = false;
  bool tenant_disabled = false;
  std::vector<std::string> roles;
  bool operator==(const TokenState&) const = default;
};

struct RevocationRecord {
  int64_t seq = 0;
  std::string token_id;
  int64_t expires_at = 0;
  int64_t revoked_at = 0;
  bool operator==(const RevocationRecord&) const = default;
};

struct RevocationPage {
  int64_t cursor = 0;  // pass as `since` next time
  std::vector<RevocationRecord> items;
  /// More of the feed follows this page: ask again at once, from `cursor`.
  bool more = false;
  bool operator==(const RevocationPage&) const = default;
};

struct SigningKeyRecord {
  std::string kid;
  std::string private_pem;
  std::string public_pem;
  bool active = false;
  int64_t created_at = 0;
  std::optional<int64_t> retired_at;
  bool operator==(const SigningKeyRecord&) const = default;
};

struct CaRecord {
  std::string cert_pem;
  std::string key_pem;
  bool operator==(const CaRecord&) const = default;
};

struct HubRecord {
  std::string id;
  auth::Labels addresses;  // role → URL or host:port
  int64_t agents = 0;
  double load = 0;
  std::string version;
  int64_t registered_at = 0;
  int64_t last_heartbeat = 0;
  bool alive = false;  // heartbeat within the registry TTL
  /// An admin drained it: agents move away, users' requests go elsewhere.
  bool draining = false;
  std::string drain_reason;
  bool operator==(const HubRecord&) const = default;
};

struct EndpointRecord {
  std::string hub;
  auth::Labels addresses;
  int64_t connected_at = 0;
  int64_t last_heartbeat = 0;
  bool operator==(const EndpointRecord&) const = default;
};

/// What every hub routes by: the live hubs and which of them hold which clusters' tunnels.
struct RoutingTable {
  std::vector<HubRecord> hubs;  // live ones only, by id
  struct Connection {
    std::string cluster;
    std::string hub;
    bool operator==(const Connection&) const = default;
  };
  std::vector<Connection> connections;  // of live hubs, by cluster, oldest tunnel first
  bool operator==(const RoutingTable&) const = default;
};

struct AuditRecord {
  int64_t id = 0;
  int64_t at = 0;
  std::string actor;
  std::string action;  // "POST /api/v1/tenants"
  std::string resource;
  int status = 0;
  std::string detail;
  std::string peer;
  bool operator==(const AuditRecord&) const = default;
};

struct CertificateRecord {
  std::string serial;
  std::string kind;  // "agent" or "hub"
  std::string subject;
  int64_t not_after = 0;
  std::string issued_by;
  bool operator==(const CertificateRecord&) const = default;
};

// What the REST API answers with beyond the stored records.

/// POST /api/v1/tokens: the record and the secret, shown once.
struct IssuedToken {
  TokenRecord record;
  std::string token;
  bool operator==(const IssuedToken&) const = default;
};

/// POST /api/v1/clusters/{cluster}/bootstrap: a one-use token an agent enrols with.
struct BootstrapToken {
  std::string cluster;
  std::string id;
  std::string token;  // the secret, shown once
  int64_t expires_at = 0;
  std::string ca_cert;  // PEM of the tunnel CA
  std::string certificate_path;
  std::string metaserver_url;
  std::string hub_url;
  bool operator==(const BootstrapToken&) const = default;
};

/// A certificate the metaserver's CA signed for a CSR (agents and hubs).
struct SignedCertificate {
  std::string certificate;  // PEM
  std::string ca_cert;      // PEM
  std::string serial;
  int64_t not_after = 0;
  bool operator==(const SignedCertificate&) const = default;
};

/// GET /api/v1/whoami: who a token is. `user`, `tenant`, `roles` and `token_id` only for users
/// (empty `user` otherwise).
struct Whoami {
  std::string actor;
  bool admin = false;
  bool hub = false;
  std::string user;
  std::string tenant;
  std::vector<std::string> roles;
  std::string token_id;
  bool operator==(const Whoami&) const = default;
};

/// GET /api/v1/bans as answered: the list and the server's clock (unix seconds).
struct BansAnswer {
  BanList bans;
  int64_t server_time = 0;
  bool operator==(const BansAnswer&) const = default;
};

/// GET /api/v1/revocations as answered: the page and the server's clock (unix seconds). Items
/// carry token_id, expires_at and revoked_at (seq stays 0).
struct RevocationsAnswer {
  RevocationPage page;
  int64_t server_time = 0;
  bool operator==(const RevocationsAnswer&) const = default;
};

/// GET /api/v1/changes: each feed's generation, and the token to pass as `since` next time.
struct ChangesPage {
  std::string since;
  std::map<std::string, int64_t> feeds;
  bool operator==(const ChangesPage&) const = default;
};

/// GET /api/v1/clusters/{cluster}/endpoints: the hubs holding a cluster's tunnel.
struct ClusterEndpoints {
  std::string cluster;
  std::vector<EndpointRecord> endpoints;
  bool operator==(const ClusterEndpoints&) const = default;
};

}  // namespace kubehub::metaserver
