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
};

struct TenantRecord {
  std::string name;
  std::string description;
  int64_t created_at = 0;
  Ban ban;
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
};

/// PATCH of a user or tenant: ban or lift the ban. `reason` only with disabled = true; when
/// absent, re-disabling keeps the current reason.
struct BanPatch {
  bool disabled = false;
  std::optional<std::string> reason;
};

/// What is banned right now (GET /api/v1/bans), each list ordered by name.
struct BanList {
  struct Entry {
    std::string name;
    std::string tenant;  // users only
    std::string reason;
    std::optional<int64_t> since;  // users and tenants
  };
  std::vector<Entry> users;
  std::vector<Entry> tenants;
  std::vector<Entry> clusters;
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
};

/// One cluster's status report as a hub forwards it.
struct ClusterStatusUpdate {
  std::string cluster;
  std::string report;  // JSON object, checked
};

/// A partial update of a cluster (PATCH): unset fields stay as they are.
struct ClusterPatch {
  std::optional<auth::Labels> labels;
  std::optional<std::string> description;
  std::optional<bool> disabled;
};

struct GrantRecord {
  auth::Grant grant;
  int64_t created_at = 0;
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
};

/// What authenticating a token needs from the database.
struct TokenState {
  bool revoked = false;
  bool user_exists = false;
  bool user_disabled = false;
  bool tenant_disabled = false;
  std::vector<std::string> roles;
};

struct RevocationRecord {
  int64_t seq = 0;
  std::string token_id;
  int64_t expires_at = 0;
  int64_t revoked_at = 0;
};

struct RevocationPage {
  int64_t cursor = 0;  // pass as `since` next time
  std::vector<RevocationRecord> items;
};

struct SigningKeyRecord {
  std::string kid;
  std::string private_pem;
  std::string public_pem;
  bool active = false;
  int64_t created_at = 0;
  std::optional<int64_t> retired_at;
};

struct CaRecord {
  std::string cert_pem;
  std::string key_pem;
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
};

struct EndpointRecord {
  std::string hub;
  auth::Labels addresses;
  int64_t connected_at = 0;
  int64_t last_heartbeat = 0;
};

/// What every hub routes by: the live hubs and which of them hold which clusters' tunnels.
struct RoutingTable {
  std::vector<HubRecord> hubs;  // live ones only, by id
  struct Connection {
    std::string cluster;
    std::string hub;
  };
  std::vector<Connection> connections;  // of live hubs, by cluster, oldest tunnel first
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
};

struct CertificateRecord {
  std::string serial;
  std::string kind;  // "agent" or "hub"
  std::string subject;
  int64_t not_after = 0;
  std::string issued_by;
};

}  // namespace kubehub::metaserver
