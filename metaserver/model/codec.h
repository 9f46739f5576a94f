#pragma once
/// JSON for the REST API: strict decoding of request bodies (unknown fields, wrong types and
/// malformed JSON are 400; well-formed but invalid values are 422), validation of names, and
/// encoding of records. Pure and thread-safe.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "metaserver/model/records.h"

namespace kubehub::metaserver {

using Json = nlohmann::json;

/// A 400: the request is malformed (not JSON, unknown field, wrong type, missing field).
/// Plain InvalidArgument statuses are 422: the request is well-formed but a value is invalid.
absl::Status badRequest(std::string_view message);
bool isBadRequest(const absl::Status& status);

/// Parses a request body that must be one JSON object (an empty body is `{}` when
/// `empty_ok`).
absl::StatusOr<Json> parseJsonObject(std::string_view body, bool empty_ok = false);

/// Reads the fields of one JSON object, checking types; finish() rejects unknown fields.
class ObjectReader {
 public:
  ObjectReader(const Json& object, std::string where);
  absl::Status str(std::string_view key, std::string* out, bool required = false,
                   size_t max_len = 1024);
  absl::Status strList(std::string_view key, std::vector<std::string>* out, bool required = false,
                       size_t max_items = 1000);
  absl::Status strMap(std::string_view key, std::map<std::string, std::string, std::less<>>* out,
                      bool required = false);
  absl::Status boolean(std::string_view key, bool* out, bool required = false);
  absl::Status integer(std::string_view key, int64_t* out, bool required = false);
  absl::Status number(std::string_view key, double* out, bool required = false);
  /// A nested value of any type, for the caller to read further (nullptr when absent).
  absl::Status any(std::string_view key, const Json** out, bool required = false);
  /// The field is there and not null (the readers above treat null as absent).
  bool has(std::string_view key) const;
  /// The field is there, null or not: a merge patch's null, which removes the member.
  bool present(std::string_view key) const;
  absl::Status finish() const;

 private:
  const Json* field(std::string_view key);
  absl::Status missing(std::string_view key) const;
  absl::Status wrongType(std::string_view key, std::string_view type) const;
  const Json& object_;
  std::string where_;
  std::vector<std::string> seen_;
};

// Names. Each returns a 422 that says what a valid name looks like.
absl::Status checkDnsLabel(std::string_view what, std::string_view name);
/// User names: 1-253 of [a-z0-9.-_@], starting and ending alphanumeric (emails fit).
absl::Status checkUserName(std::string_view name);
/// Hub ids: DNS subdomains (hostnames).
absl::Status checkHubId(std::string_view id);

/// A TTL: a duration string ("30m", "24h") or a number of seconds.
absl::StatusOr<int64_t> parseTtl(const Json& value, std::string_view field);

// Request bodies.
absl::StatusOr<TenantRecord> decodeTenant(const Json& body);
absl::StatusOr<UserRecord> decodeUser(const Json& body);
absl::StatusOr<ClusterRecord> decodeCluster(const Json& body);
/// A JSON merge patch (RFC 7396) of labels (replaced whole), description and disabled; null
/// removes labels and description (none, empty) and leaves disabled as it is.
absl::StatusOr<ClusterPatch> decodeClusterPatch(const Json& body);
/// {"disabled": bool (required), "reason": string (only with disabled: true)}; `what` names the
/// resource in messages ("user", "tenant").
absl::StatusOr<BanPatch> decodeBanPatch(const Json& body, std::string_view what);
/// A grant; without "user" (or with null) it covers the whole tenant, an empty "user" is 422.
absl::StatusOr<auth::Grant> decodeGrant(const Json& body);

struct TokenRequest {
  std::string user;
  int64_t ttl_seconds = 0;  // 0: the server's default
  std::string description;
};
absl::StatusOr<TokenRequest> decodeTokenRequest(const Json& body);

struct HubHeartbeat {
  auth::Labels addresses;
  int64_t agents = 0;
  double load = 0;
  std::string version;
  /// Random per hub process (optional): a new one means the hub restarted.
  std::string instance;
};
absl::StatusOr<HubHeartbeat> decodeHubHeartbeat(const Json& body);
Json toJson(const HubHeartbeat& h);

/// POST /api/v1/hubs/{hub}/cluster-status: {"reports": [{"cluster": NAME, "report": {...}}]},
/// each report checked strictly (proto::parseStatusReport) and kept in its normal form.
inline constexpr size_t kMaxClusterStatusBatch = 1000;
absl::StatusOr<std::vector<ClusterStatusUpdate>> decodeClusterStatusBatch(const Json& body);

// Stored grant specs: {"clusters": {...}, "rules": [...]} (written by grantSpecJson only).
Json grantSpecJson(const auth::Grant& grant);
absl::StatusOr<auth::Grant> grantFromSpec(std::string name, std::string tenant, std::string user,
                                          const Json& spec);

// Responses.
std::string formatTime(int64_t seconds);  // RFC 3339, UTC
/// Reads what formatTime writes ("2024-05-01T12:00:00Z"; a fraction and a numeric offset are
/// accepted too). InvalidArgument for anything else.
absl::StatusOr<int64_t> parseTime(std::string_view text);
Json toJson(const TenantRecord& r);
Json toJson(const UserRecord& r);
Json toJson(const ClusterRecord& r);
Json toJson(const GrantRecord& r);
Json toJson(const TokenRecord& r);
Json toJson(const HubRecord& r);
Json toJson(const EndpointRecord& r);
Json toJson(const RoutingTable& r);
Json toJson(const AuditRecord& r);
/// GET /api/v1/bans: {"users": [{name, tenant, reason, since}], "tenants": [{name, reason,
/// since}], "clusters": [{name}], "serverTime": unix seconds}.
Json toJson(const BanList& r, int64_t server_time);
Json toJson(const BansAnswer& r);
Json toJson(const IssuedToken& r);
Json toJson(const BootstrapToken& r);
Json toJson(const SignedCertificate& r);
Json toJson(const Whoami& r);
Json toJson(const RevocationsAnswer& r);
Json toJson(const ChangesPage& r);
Json toJson(const ClusterEndpoints& r);

// Decoding the API's answers (the client's side of toJson): fields the record does not know are
// ignored (a newer server may add some), a known field of the wrong type or a missing required
// one is InvalidArgument naming it ("cluster: field \"labels\" must be an object of strings").
absl::Status decodeAnswer(const Json& j, TenantRecord* out);
absl::Status decodeAnswer(const Json& j, UserRecord* out);
absl::Status decodeAnswer(const Json& j, ClusterRecord* out);
absl::Status decodeAnswer(const Json& j, GrantRecord* out);
absl::Status decodeAnswer(const Json& j, TokenRecord* out);
absl::Status decodeAnswer(const Json& j, HubRecord* out);
absl::Status decodeAnswer(const Json& j, EndpointRecord* out);
absl::Status decodeAnswer(const Json& j, RoutingTable* out);
absl::Status decodeAnswer(const Json& j, AuditRecord* out);
absl::Status decodeAnswer(const Json& j, BansAnswer* out);
absl::Status decodeAnswer(const Json& j, IssuedToken* out);
absl::Status decodeAnswer(const Json& j, BootstrapToken* out);
absl::Status decodeAnswer(const Json& j, SignedCertificate* out);
absl::Status decodeAnswer(const Json& j, Whoami* out);
absl::Status decodeAnswer(const Json& j, RevocationsAnswer* out);
absl::Status decodeAnswer(const Json& j, ChangesPage* out);
absl::Status decodeAnswer(const Json& j, ClusterEndpoints* out);

/// One answer decoded: `fromJson<ClusterRecord>(j)`.
template <class T>
absl::StatusOr<T> fromJson(const Json& j) {
  T out;
  if (absl::Status s = decodeAnswer(j, &out); !s.ok()) return s;
  return out;
}

}  // namespace kubehub::metaserver
