#include "metaserver/model/codec.h"

#include <algorithm>

#include "absl/strings/cord.h"
#include "common/config/flags.h"
#include "common/k8s/rfc3339.h"
#include "common/k8s/validation.h"
#include "proto/cluster_status.h"

namespace kubehub::metaserver {

namespace {

constexpr absl::string_view kHttpStatusPayload = "kubehub.dev/http-status";

absl::Status invalid(std::string message) { return absl::InvalidArgumentError(std::move(message)); }

const char* typeName(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return "a boolean";
    case Json::value_t::string:
      return "a string";
    case Json::value_t::array:
      return "an array";
    case Json::value_t::object:
      return "an object";
    default:
      return "a number";
  }
}

bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f; });
}

absl::Status checkLabels(const auth::Labels& labels) {
  if (labels.size() > 64) return invalid("at most 64 labels");
  for (const auto& [k, v] : labels) {
    if (!k8s::isQualifiedName(k).empty()) {
      return invalid("label key \"" + k +
                     "\" is invalid (an optional DNS prefix and '/', then up to 63 "
                     "characters [A-Za-z0-9._-] starting and ending alphanumeric)");
    }
    if (!k8s::isLabelValue(v).empty()) {
      return invalid("label value \"" + v + "\" of \"" + k +
                     "\" is invalid (up to 63 characters "
                     "[A-Za-z0-9._-] starting and ending alphanumeric, or empty)");
    }
  }
  return absl::OkStatus();
}

/// A name as a message shows it: valid UTF-8 (a cut at a byte could split a character, and
/// the message goes into the audit log's text column), without control characters.
std::string shownName(std::string_view name) {
  std::string shown = k8s::validUtf8(name, 80);
  if (!printable(shown)) shown = "(contains control characters)";
  return shown;
}

absl::Status checkDescription(const std::string& d) {
  if (!printable(d)) return invalid("description must not contain control characters");
  return absl::OkStatus();
}

#define KH_TRY(expr)               \
  do {                             \
    ::absl::Status kh_s_ = (expr); \
    if (!kh_s_.ok()) return kh_s_; \
  } while (0)

}  // namespace

absl::Status badRequest(std::string_view message) {
  absl::Status s = absl::InvalidArgumentError(std::string(message));
  s.SetPayload(kHttpStatusPayload, absl::Cord("400"));
  return s;
}

bool isBadRequest(const absl::Status& status) {
  return status.code() == absl::StatusCode::kInvalidArgument &&
         status.GetPayload(kHttpStatusPayload).has_value();
}

absl::StatusOr<Json> parseJsonObject(std::string_view body, bool empty_ok) {
  if (body.empty() && empty_ok) return Json::object();
  Json j = Json::parse(body, nullptr, false);
  if (j.is_discarded()) return badRequest("request body is not valid JSON");
  if (!j.is_object()) return badRequest("request body must be a JSON object");
  return j;
}

ObjectReader::ObjectReader(const Json& object, std::string where)
    : object_(object), where_(std::move(where)) {}

const Json* ObjectReader::field(std::string_view key) {
  seen_.emplace_back(key);
  auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

bool ObjectReader::has(std::string_view key) const {
  auto it = object_.find(key);
  return it != object_.end() && !it->is_null();
}

bool ObjectReader::present(std::string_view key) const { return object_.contains(key); }

absl::Status ObjectReader::missing(std::string_view key) const {
  return badRequest(where_ + ": field \"" + std::string(key) + "\" is required");
}

absl::Status ObjectReader::wrongType(std::string_view key, std::string_view type) const {
  auto it = object_.find(key);
  return badRequest(where_ + ": field \"" + std::string(key) + "\" must be " + std::string(type) +
                    ", not " + typeName(*it));
}

absl::Status ObjectReader::str(std::string_view key, std::string* out, bool required,
                               size_t max_len) {
  const Json* v = field(key);
  if (v == nullptr) return required ? missing(key) : absl::OkStatus();
  if (!v->is_string()) return wrongType(key, "a string");
  if (v->get_ref<const std::string&>().size() > max_len) {
    return invalid(where_ + ": field \"" + std::string(key) + "\" is longer than " +
                   std::to_string(max_len) + " bytes");
  }
  *out = v->get<std::string>();
  return absl::OkStatus();
}

absl::Status ObjectReader::strList(std::string_view key, std::vector<std::string>* out,
                                   bool required, size_t max_items) {
  const Json* v = field(key);
  if (v == nullptr) return required ? missing(key) : absl::OkStatus();
  if (!v->is_array()) return wrongType(key, "an array of strings");
  if (v->size() > max_items) {
    return invalid(where_ + ": field \"" + std::string(key) + "\" has more than " +
                   std::to_string(max_items) + " items");
  }
  out->clear();
  for (const auto& item : *v) {
    if (!item.is_string()) return wrongType(key, "an array of strings");
    if (item.get_ref<const std::string&>().size() > 253) {
      return invalid(where_ + ": an item of \"" + std::string(key) + "\" is longer than 253 bytes");
    }
    out->push_back(item.get<std::string>());
  }
  return absl::OkStatus();
}

absl::Status ObjectReader::strMap(std::string_view key,
                                  std::map<std::string, std::string, std::less<>>* out,
                                  bool required) {
  const Json* v = field(key);
  if (v == nullptr) return required ? missing(key) : absl::OkStatus();
  if (!v->is_object()) return wrongType(key, "an object of strings");
  out->clear();
  for (const auto& [k, item] : v->items()) {
    if (!item.is_string()) return wrongType(key, "an object of strings");
    out->emplace(k, item.get<std::string>());
  }
  return absl::OkStatus();
}

absl::Status ObjectReader::boolean(std::string_view key, bool* out, bool required) {
  const Json* v = field(key);
  if (v == nullptr) return required ? missing(key) : absl::OkStatus();
  if (!v->is_boolean()) return wrongType(key, "a boolean");
  *out = v->get<bool>();
  return absl::OkStatus();
}

absl::Status ObjectReader::integer(std::string_view key, int64_t* out, bool required) {
  const Json* v = field(key);
  if (v == nullptr) return required ? missing(key) : absl::OkStatus();
  if (!v->is_number_integer()) return wrongType(key, "an integer");
  *out = v->get<int64_t>();
  return absl::OkStatus();
}

absl::Status ObjectReader::number(std::string_view key, double* out, bool required) {
  const Json* v = field(key);
  if (v == nullptr) return required ? missing(key) : absl::OkStatus();
  if (!v->is_number()) return wrongType(key, "a number");
  *out = v->get<double>();
  return absl::OkStatus();
}

absl::Status ObjectReader::any(std::string_view key, const Json** out, bool required) {
  const Json* v = field(key);
  if (v == nullptr && required) return missing(key);
  *out = v;
  return absl::OkStatus();
}

absl::Status ObjectReader::finish() const {
  for (const auto& [k, v] : object_.items()) {
    if (std::find(seen_.begin(), seen_.end(), k) == seen_.end()) {
      return badRequest(where_ + ": unknown field \"" + k + "\"");
    }
  }
  return absl::OkStatus();
}

absl::Status checkDnsLabel(std::string_view what, std::string_view name) {
  if (k8s::isDnsLabel(name)) return absl::OkStatus();
  return invalid(std::string(what) + " name \"" + shownName(name) +
                 "\" is invalid: use a DNS label (lower-case letters, digits and '-', starting and "
                 "ending with a letter or digit, at most 63 characters)");
}

absl::Status checkUserName(std::string_view name) {
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  bool ok = !name.empty() && name.size() <= 253 && alnum(name.front()) && alnum(name.back()) &&
            std::all_of(name.begin(), name.end(), [&](char c) {
              return alnum(c) || c == '-' || c == '.' || c == '_' || c == '@';
            });
  if (ok) return absl::OkStatus();
  return invalid("user name \"" + shownName(name) +
                 "\" is invalid: use lower-case letters, digits, '-', '.', '_' and '@', starting "
                 "and ending with a letter or digit, at most 253 characters");
}

absl::Status checkHubId(std::string_view id) {
  if (k8s::isDnsHostname(id)) return absl::OkStatus();
  return invalid("hub id \"" + shownName(id) +
                 "\" is invalid: use a DNS name (lower-case letters, digits, '-' and '.')");
}

absl::StatusOr<int64_t> parseTtl(const Json& value, std::string_view field) {
  int64_t seconds = 0;
  if (value.is_number_integer()) {
    seconds = value.get<int64_t>();
  } else if (value.is_string()) {
    std::chrono::milliseconds ms{0};
    if (auto s = config::parseDuration(value.get<std::string>(), &ms); !s.ok()) {
      return invalid(std::string(field) + ": " + std::string(s.message()));
    }
    seconds = ms.count() / 1000;
  } else {
    return badRequest(std::string(field) +
                      " must be a duration string (\"1h\") or a number of seconds");
  }
  if (seconds <= 0) return invalid(std::string(field) + " must be positive");
  return seconds;
}

absl::StatusOr<TenantRecord> decodeTenant(const Json& body) {
  TenantRecord r;
  ObjectReader rd(body, "tenant");
  KH_TRY(rd.str("name", &r.name, true, 253));
  KH_TRY(rd.str("description", &r.description));
  KH_TRY(rd.finish());
  KH_TRY(checkDnsLabel("tenant", r.name));
  KH_TRY(checkDescription(r.description));
  return r;
}

absl::StatusOr<UserRecord> decodeUser(const Json& body) {
  UserRecord r;
  ObjectReader rd(body, "user");
  KH_TRY(rd.str("name", &r.name, true, 253));
  KH_TRY(rd.str("tenant", &r.tenant, true, 253));
  KH_TRY(rd.strList("groups", &r.groups, false, 100));
  KH_TRY(rd.strList("roles", &r.roles, false, 10));
  KH_TRY(rd.str("description", &r.description));
  KH_TRY(rd.finish());
  KH_TRY(checkUserName(r.name));
  KH_TRY(checkDnsLabel("tenant", r.tenant));
  for (const auto& g : r.groups) {
    if (g.empty() || !printable(g) || g.find(',') != std::string::npos) {
      return invalid("group \"" + g + "\" is invalid: non-empty, printable, without ','");
    }
  }
  for (const auto& role : r.roles) {
    if (role != kRoleAdmin && role != kRoleHub) {
      return invalid("role \"" + role + "\" is unknown: roles are \"admin\" and \"hub\"");
    }
  }
  std::sort(r.roles.begin(), r.roles.end());
  r.roles.erase(std::unique(r.roles.begin(), r.roles.end()), r.roles.end());
  KH_TRY(checkDescription(r.description));
  return r;
}

absl::StatusOr<ClusterRecord> decodeCluster(const Json& body) {
  ClusterRecord r;
  ObjectReader rd(body, "cluster");
  KH_TRY(rd.str("name", &r.name, true, 253));
  KH_TRY(rd.strMap("labels", &r.labels));
  KH_TRY(rd.str("description", &r.description));
  KH_TRY(rd.boolean("disabled", &r.disabled));
  KH_TRY(rd.finish());
  KH_TRY(checkDnsLabel("cluster", r.name));
  KH_TRY(checkLabels(r.labels));
  KH_TRY(checkDescription(r.description));
  return r;
}

absl::StatusOr<ClusterPatch> decodeClusterPatch(const Json& body) {
  // Merge-patch nulls: labels and description go back to their defaults (none, empty), while
  // "disabled": null changes nothing (re-enabling a cluster takes an explicit false), as a ban
  // patch's null reason does. Every field is read, null or not, so none is "unknown".
  ClusterPatch p;
  ObjectReader rd(body, "cluster");
  auth::Labels labels;
  KH_TRY(rd.strMap("labels", &labels));
  if (rd.present("labels")) {
    KH_TRY(checkLabels(labels));
    p.labels = std::move(labels);
  }
  std::string description;
  KH_TRY(rd.str("description", &description));
  if (rd.present("description")) {
    KH_TRY(checkDescription(description));
    p.description = std::move(description);
  }
  bool disabled = false;
  KH_TRY(rd.boolean("disabled", &disabled));
  if (rd.has("disabled")) p.disabled = disabled;
  KH_TRY(rd.finish());
  if (!p.labels && !p.description && !p.disabled) {
    return badRequest("cluster: nothing to change (labels, description, disabled)");
  }
  return p;
}

absl::StatusOr<BanPatch> decodeBanPatch(const Json& body, std::string_view what) {
  BanPatch p;
  std::string where(what);
  ObjectReader rd(body, where);
  KH_TRY(rd.boolean("disabled", &p.disabled, true));
  std::string reason;
  KH_TRY(rd.str("reason", &reason, false, 1024));
  if (rd.has("reason")) p.reason = std::move(reason);
  KH_TRY(rd.finish());
  if (p.reason && !p.disabled) {
    return invalid(where +
                   ": \"reason\" goes only with \"disabled\": true (enabling clears the reason)");
  }
  if (p.reason && !printable(*p.reason)) {
    return invalid(where + ": reason must not contain control characters");
  }
  return p;
}

namespace {

absl::Status decodeGrantSpec(ObjectReader& rd, auth::Grant* g, std::string_view where) {
  const Json* clusters = nullptr;
  KH_TRY(rd.any("clusters", &clusters, true));
  if (!clusters->is_object()) return badRequest(std::string(where) + ".clusters must be an object");
  ObjectReader cr(*clusters, std::string(where) + ".clusters");
  KH_TRY(cr.strList("names", &g->cluster_names));
  KH_TRY(cr.str("selector", &g->cluster_selector, false, 4096));
  KH_TRY(cr.finish());
  KH_TRY(rd.strList("commands", &g->commands));
  const Json* rules = nullptr;
  KH_TRY(rd.any("rules", &rules, g->commands.empty()));
  static const Json kNoRules = Json::array();
  if (!rules) rules = &kNoRules;
  if (!rules->is_array()) return badRequest(std::string(where) + ".rules must be an array");
  for (size_t i = 0; i < rules->size(); ++i) {
    const Json& rule = (*rules)[i];
    std::string at = std::string(where) + ".rules[" + std::to_string(i) + "]";
    if (!rule.is_object()) return badRequest(at + " must be an object");
    ObjectReader rr(rule, at);
    auth::GrantRule r;
    KH_TRY(rr.strList("apiGroups", &r.api_groups, true));
    KH_TRY(rr.strList("resources", &r.resources, true));
    KH_TRY(rr.strList("verbs", &r.verbs, true));
    r.namespaces = {"*"};
    KH_TRY(rr.strList("namespaces", &r.namespaces));
    KH_TRY(rr.finish());
    g->rules.push_back(std::move(r));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<auth::Grant> decodeGrant(const Json& body) {
  auth::Grant g;
  ObjectReader rd(body, "grant");
  KH_TRY(rd.str("name", &g.name, true, 253));
  KH_TRY(rd.str("tenant", &g.tenant, true, 253));
  KH_TRY(rd.str("user", &g.user, false, 253));
  KH_TRY(decodeGrantSpec(rd, &g, "grant"));
  KH_TRY(rd.finish());
  KH_TRY(checkDnsLabel("grant", g.name));
  KH_TRY(checkDnsLabel("tenant", g.tenant));
  // Only a grant without "user" (or with null) is the whole tenant's: an empty name is a
  // mistake (an unset shell variable), not a wider grant.
  if (rd.has("user")) {
    if (g.user.empty()) {
      return invalid(
          "grant: field \"user\" must not be empty: name a user of the tenant, or leave the "
          "field out for a grant to the whole tenant");
    }
    KH_TRY(checkUserName(g.user));
  }
  KH_TRY(auth::validateGrant(g));
  return g;
}

Json grantSpecJson(const auth::Grant& g) {
  Json clusters = Json::object();
  clusters["names"] = g.cluster_names;
  if (!g.cluster_selector.empty()) clusters["selector"] = g.cluster_selector;
  Json rules = Json::array();
  for (const auto& r : g.rules) {
    rules.push_back({{"apiGroups", r.api_groups},
                     {"resources", r.resources},
                     {"verbs", r.verbs},
                     {"namespaces", r.namespaces}});
  }
  Json spec = {{"clusters", clusters}, {"rules", rules}};
  if (!g.commands.empty()) spec["commands"] = g.commands;
  return spec;
}

absl::StatusOr<auth::Grant> grantFromSpec(std::string name, std::string tenant, std::string user,
                                          const Json& spec) {
  auth::Grant g;
  g.name = std::move(name);
  g.tenant = std::move(tenant);
  g.user = std::move(user);
  if (!spec.is_object()) return absl::DataLossError("stored grant spec is not an object");
  ObjectReader rd(spec, "stored grant");
  if (auto s = decodeGrantSpec(rd, &g, "stored grant"); !s.ok())
    return absl::DataLossError(s.message());
  return g;
}

absl::StatusOr<TokenRequest> decodeTokenRequest(const Json& body) {
  TokenRequest t;
  ObjectReader rd(body, "token");
  KH_TRY(rd.str("user", &t.user, true, 253));
  const Json* ttl = nullptr;
  KH_TRY(rd.any("ttl", &ttl));
  KH_TRY(rd.str("description", &t.description));
  KH_TRY(rd.finish());
  KH_TRY(checkUserName(t.user));
  if (ttl != nullptr) {
    auto s = parseTtl(*ttl, "ttl");
    if (!s.ok()) return s.status();
    t.ttl_seconds = *s;
  }
  KH_TRY(checkDescription(t.description));
  return t;
}

absl::StatusOr<HubHeartbeat> decodeHubHeartbeat(const Json& body) {
  HubHeartbeat h;
  ObjectReader rd(body, "hub");
  KH_TRY(rd.strMap("addresses", &h.addresses));
  KH_TRY(rd.integer("agents", &h.agents));
  KH_TRY(rd.number("load", &h.load));
  KH_TRY(rd.str("version", &h.version, false, 64));
  KH_TRY(rd.str("instance", &h.instance, false, 64));
  KH_TRY(rd.finish());
  if (!printable(h.instance)) return invalid("hub: instance must be printable");
  if (h.addresses.size() > 16) return invalid("hub: at most 16 addresses");
  for (const auto& [k, v] : h.addresses) {
    if (!k8s::isDnsLabel(k))
      return invalid("hub address name \"" + k +
                     "\" must be a DNS label (e.g. users, tunnel, peer)");
    if (v.empty() || v.size() > 512 || !printable(v) || v.find(' ') != std::string::npos) {
      return invalid("hub address \"" + k + "\" must be a URL or HOST:PORT");
    }
  }
  if (h.agents < 0) return invalid("hub: agents must not be negative");
  if (h.load < 0) return invalid("hub: load must not be negative");
  if (!printable(h.version)) return invalid("hub: version must be printable");
  return h;
}

Json toJson(const HubHeartbeat& h) {
  Json addresses = Json::object();
  for (const auto& [k, v] : h.addresses) addresses[k] = v;
  Json j = {{"addresses", std::move(addresses)},
            {"agents", h.agents},
            {"load", h.load},
            {"version", h.version}};
  if (!h.instance.empty()) j["instance"] = h.instance;
  return j;
}

absl::StatusOr<std::vector<ClusterStatusUpdate>> decodeClusterStatusBatch(const Json& body) {
  ObjectReader rd(body, "cluster status");
  const Json* reports = nullptr;
  KH_TRY(rd.any("reports", &reports, true));
  KH_TRY(rd.finish());
  if (!reports->is_array()) return invalid("cluster status: reports must be an array");
  if (reports->size() > kMaxClusterStatusBatch) {
    return invalid("cluster status: at most " + std::to_string(kMaxClusterStatusBatch) +
                   " reports per request");
  }
  std::vector<ClusterStatusUpdate> out;
  for (size_t i = 0; i < reports->size(); ++i) {
    const Json& entry = (*reports)[i];
    std::string where = "cluster status: reports[" + std::to_string(i) + "]";
    if (!entry.is_object()) return invalid(where + " must be an object");
    ObjectReader er(entry, where);
    ClusterStatusUpdate u;
    const Json* report = nullptr;
    KH_TRY(er.str("cluster", &u.cluster, true, 63));
    KH_TRY(er.any("report", &report, true));
    KH_TRY(er.finish());
    KH_TRY(checkDnsLabel("cluster", u.cluster));
    // The agent's report, checked as the hub checked it, stored in its normal form.
    auto parsed = proto::parseStatusReport(*report);
    if (!parsed.ok()) return invalid(where + ": " + std::string(parsed.status().message()));
    u.report = proto::statusReportJson(*parsed).dump();
    out.push_back(std::move(u));
  }
  return out;
}

// The one RFC 3339 codec (common/k8s/rfc3339.h): strftime's %Y wrote years before 1000 with
// fewer than four digits, which parseTime then refused (found by metaserver_codec_fuzz).
std::string formatTime(int64_t seconds) { return k8s::formatRfc3339(seconds); }

namespace {
Json optTime(const std::optional<int64_t>& t) { return t ? Json(formatTime(*t)) : Json(nullptr); }
Json labelsJson(const auth::Labels& l) {
  Json j = Json::object();
  for (const auto& [k, v] : l) j[k] = v;
  return j;
}
void addBan(Json& j, const Ban& b) {
  j["disabled"] = b.disabled;
  j["disabledAt"] = optTime(b.since);
  j["disabledReason"] = b.reason;
}
}  // namespace

Json toJson(const TenantRecord& r) {
  Json j = {
      {"name", r.name}, {"description", r.description}, {"createdAt", formatTime(r.created_at)}};
  addBan(j, r.ban);
  return j;
}

Json toJson(const UserRecord& r) {
  Json j = {
      {"name", r.name},   {"tenant", r.tenant},           {"groups", r.groups},
      {"roles", r.roles}, {"description", r.description}, {"createdAt", formatTime(r.created_at)}};
  addBan(j, r.ban);
  return j;
}

Json toJson(const ClusterRecord& r) {
  Json report = r.report.empty() ? Json(nullptr) : Json::parse(r.report, nullptr, false);
  if (report.is_discarded()) report = nullptr;
  // Reports from before kinds existed are of Kubernetes clusters.
  Json kind = nullptr;
  Json cached_objects = nullptr;
  if (report.is_object()) {
    auto k = report.find("kind");
    kind = k != report.end() && k->is_string() ? *k : Json(proto::kKindKubernetes);
    auto cache = report.find("cache");
    if (cache != report.end() && cache->is_object())
      cached_objects = cache->value("objects", Json());
  }
  Json status = {{"state", r.hubs.empty() ? "disconnected" : "connected"},
                 {"kind", std::move(kind)},
                 {"cachedObjects", std::move(cached_objects)},
                 {"connected", !r.hubs.empty()},
                 {"hubs", r.hubs},
                 {"since", r.hubs.empty() ? Json(nullptr) : optTime(r.connected_since)},
                 {"lastSeen", optTime(r.last_seen)},
                 {"reportedAt", optTime(r.reported_at)},
                 {"reportedBy", r.reported_by.empty() ? Json(nullptr) : Json(r.reported_by)},
                 {"report", std::move(report)}};
  return {{"name", r.name},
          {"labels", labelsJson(r.labels)},
          {"description", r.description},
          {"disabled", r.disabled},
          {"status", status},
          {"createdAt", formatTime(r.created_at)}};
}

Json toJson(const GrantRecord& r) {
  Json j = grantSpecJson(r.grant);
  j["name"] = r.grant.name;
  j["tenant"] = r.grant.tenant;
  j["user"] = r.grant.user.empty() ? Json(nullptr) : Json(r.grant.user);
  j["createdAt"] = formatTime(r.created_at);
  return j;
}

Json toJson(const TokenRecord& r) {
  return {{"id", r.id},
          {"user", r.user},
          {"tenant", r.tenant},
          {"description", r.description},
          {"keyId", r.kid},
          {"issuedAt", formatTime(r.issued_at)},
          {"expiresAt", formatTime(r.expires_at)},
          {"revokedAt", optTime(r.revoked_at)},
          {"issuedBy", r.issued_by}};
}

Json toJson(const HubRecord& r) {
  return {{"id", r.id},
          {"addresses", labelsJson(r.addresses)},
          {"agents", r.agents},
          {"load", r.load},
          {"version", r.version},
          {"registeredAt", formatTime(r.registered_at)},
          {"lastHeartbeat", formatTime(r.last_heartbeat)},
          {"alive", r.alive},
          {"draining", r.draining},
          {"drainReason", r.drain_reason}};
}

Json toJson(const EndpointRecord& r) {
  return {{"hub", r.hub},
          {"addresses", labelsJson(r.addresses)},
          {"connectedAt", formatTime(r.connected_at)},
          {"lastHeartbeat", formatTime(r.last_heartbeat)}};
}

Json toJson(const RoutingTable& r) {
  Json hubs = Json::array();
  for (const auto& h : r.hubs) {
    hubs.push_back({{"id", h.id},
                    {"addresses", labelsJson(h.addresses)},
                    {"version", h.version},
                    {"draining", h.draining}});
  }
  // One entry per cluster, its hubs oldest tunnel first.
  Json routes = Json::array();
  for (size_t i = 0; i < r.connections.size();) {
    const std::string& cluster = r.connections[i].cluster;
    Json held = Json::array();
    for (; i < r.connections.size() && r.connections[i].cluster == cluster; ++i)
      held.push_back(r.connections[i].hub);
    routes.push_back({{"cluster", cluster}, {"hubs", std::move(held)}});
  }
  return {{"hubs", std::move(hubs)}, {"routes", std::move(routes)}};
}

Json toJson(const AuditRecord& r) {
  return {{"id", r.id},         {"at", formatTime(r.at)}, {"actor", r.actor},
          {"action", r.action}, {"resource", r.resource}, {"status", r.status},
          {"detail", r.detail}, {"peer", r.peer}};
}

Json toJson(const BanList& r, int64_t server_time) {
  Json users = Json::array();
  for (const auto& e : r.users) {
    users.push_back({{"name", e.name},
                     {"tenant", e.tenant},
                     {"reason", e.reason},
                     {"since", optTime(e.since)}});
  }
  Json tenants = Json::array();
  for (const auto& e : r.tenants) {
    tenants.push_back({{"name", e.name}, {"reason", e.reason}, {"since", optTime(e.since)}});
  }
  Json clusters = Json::array();
  for (const auto& e : r.clusters) {
    Json c = {{"name", e.name}};
    if (!e.reason.empty()) c["reason"] = e.reason;
    clusters.push_back(std::move(c));
  }
  return {
      {"users", users}, {"tenants", tenants}, {"clusters", clusters}, {"serverTime", server_time}};
}

Json toJson(const BansAnswer& r) { return toJson(r.bans, r.server_time); }

Json toJson(const IssuedToken& r) {
  Json j = toJson(r.record);
  j["token"] = r.token;
  return j;
}

Json toJson(const BootstrapToken& r) {
  return {{"cluster", r.cluster},
          {"id", r.id},
          {"token", r.token},
          {"expiresAt", formatTime(r.expires_at)},
          {"caCert", r.ca_cert},
          {"certificatePath", r.certificate_path},
          {"metaserverUrl", r.metaserver_url},
          {"hubUrl", r.hub_url}};
}

Json toJson(const SignedCertificate& r) {
  return {{"certificate", r.certificate},
          {"caCert", r.ca_cert},
          {"serial", r.serial},
          {"notAfter", formatTime(r.not_after)}};
}

Json toJson(const Whoami& r) {
  Json j = {{"actor", r.actor}, {"admin", r.admin}, {"hub", r.hub}};
  if (!r.user.empty()) {
    j["user"] = r.user;
    j["tenant"] = r.tenant;
    j["roles"] = r.roles;
    j["tokenId"] = r.token_id;
  }
  return j;
}

Json toJson(const RevocationsAnswer& r) {
  Json items = Json::array();
  for (const auto& e : r.page.items) {
    items.push_back(
        {{"jti", e.token_id}, {"expiresAt", e.expires_at}, {"revokedAt", e.revoked_at}});
  }
  return {{"cursor", r.page.cursor},
          {"items", std::move(items)},
          {"more", r.page.more},
          {"serverTime", r.server_time}};
}

Json toJson(const ChangesPage& r) {
  Json feeds = Json::object();
  for (const auto& [feed, generation] : r.feeds) feeds[feed] = generation;
  return {{"since", r.since}, {"feeds", std::move(feeds)}};
}

Json toJson(const ClusterEndpoints& r) {
  Json items = Json::array();
  for (const auto& e : r.endpoints) items.push_back(toJson(e));
  return {{"cluster", r.cluster}, {"endpoints", std::move(items)}};
}

absl::StatusOr<int64_t> parseTime(std::string_view text) {
  auto t = k8s::parseRfc3339(text);
  // What formatTime writes back: years 0000 to 9999 (an offset may move a time past either).
  constexpr int64_t kYear0 = -62167219200;
  constexpr int64_t kYear10000 = 253402300800;
  if (!t || t->seconds < kYear0 || t->seconds >= kYear10000) {
    return invalid("\"" + std::string(text.substr(0, 40)) +
                   "\" is not an RFC 3339 time (2024-05-01T12:00:00Z)");
  }
  return t->seconds;
}

namespace {

// Answers may be long (certificates, reports) and lists of any length: only the types are
// checked here, the server checked the values.
constexpr size_t kAnyLength = size_t{1} << 30;

/// ObjectReader for answers: no limits, times, nested objects, and no finish().
class AnswerReader {
 public:
  AnswerReader(const Json& j, std::string where) : j_(j), where_(where), rd_(j, std::move(where)) {}
  absl::Status object() const {
    if (j_.is_object()) return absl::OkStatus();
    return invalid(where_ + " must be an object, not " + typeName(j_));
  }
  absl::Status str(std::string_view key, std::string* out, bool required = false) {
    return rd_.str(key, out, required, kAnyLength);
  }
  absl::Status strList(std::string_view key, std::vector<std::string>* out) {
    return rd_.strList(key, out, false, kAnyLength);
  }
  absl::Status labels(std::string_view key, auth::Labels* out) { return rd_.strMap(key, out); }
  absl::Status boolean(std::string_view key, bool* out) { return rd_.boolean(key, out); }
  absl::Status integer(std::string_view key, int64_t* out, bool required = false) {
    return rd_.integer(key, out, required);
  }
  absl::Status number(std::string_view key, double* out) { return rd_.number(key, out); }
  absl::Status time(std::string_view key, int64_t* out, bool required = false) {
    std::optional<int64_t> t;
    KH_TRY(optTime(key, &t, required));
    if (t) *out = *t;
    return absl::OkStatus();
  }
  absl::Status optTime(std::string_view key, std::optional<int64_t>* out, bool required = false) {
    std::string text;
    KH_TRY(rd_.str(key, &text, required, 64));
    if (!rd_.has(key)) {
      out->reset();
      return absl::OkStatus();
    }
    auto t = parseTime(text);
    if (!t.ok()) return invalid(field(key) + ": " + std::string(t.status().message()));
    *out = *t;
    return absl::OkStatus();
  }
  /// An array under `key` (absent or null: empty), each item decoded by `decode`.
  template <class T, class Decode>
  absl::Status list(std::string_view key, std::vector<T>* out, Decode decode) {
    const Json* v = nullptr;
    KH_TRY(rd_.any(key, &v));
    out->clear();
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_array()) return invalid(field(key) + " must be an array, not " + typeName(*v));
    for (size_t i = 0; i < v->size(); ++i) {
      T item;
      KH_TRY(
          decode((*v)[i], where_ + "." + std::string(key) + "[" + std::to_string(i) + "]", &item));
      out->push_back(std::move(item));
    }
    return absl::OkStatus();
  }
  absl::Status any(std::string_view key, const Json** out, bool required = false) {
    return rd_.any(key, out, required);
  }
  ObjectReader& reader() { return rd_; }
  std::string field(std::string_view key) const {
    return where_ + ": field \"" + std::string(key) + "\"";
  }

 private:
  const Json& j_;
  std::string where_;
  ObjectReader rd_;
};

absl::Status decodeBan(AnswerReader& rd, Ban* ban) {
  KH_TRY(rd.boolean("disabled", &ban->disabled));
  KH_TRY(rd.optTime("disabledAt", &ban->since));
  return rd.str("disabledReason", &ban->reason);
}

absl::Status decodeEndpoint(const Json& j, const std::string& where, EndpointRecord* r) {
  AnswerReader rd(j, where);
  KH_TRY(rd.object());
  KH_TRY(rd.str("hub", &r->hub, true));
  KH_TRY(rd.labels("addresses", &r->addresses));
  KH_TRY(rd.time("connectedAt", &r->connected_at));
  return rd.time("lastHeartbeat", &r->last_heartbeat);
}

absl::Status decodeBanEntry(const Json& j, const std::string& where, BanList::Entry* e) {
  AnswerReader rd(j, where);
  KH_TRY(rd.object());
  KH_TRY(rd.str("name", &e->name, true));
  KH_TRY(rd.str("tenant", &e->tenant));
  KH_TRY(rd.str("reason", &e->reason));
  return rd.optTime("since", &e->since);
}

}  // namespace

absl::Status decodeAnswer(const Json& j, TenantRecord* r) {
  AnswerReader rd(j, "tenant");
  KH_TRY(rd.object());
  KH_TRY(rd.str("name", &r->name, true));
  KH_TRY(rd.str("description", &r->description));
  KH_TRY(rd.time("createdAt", &r->created_at));
  return decodeBan(rd, &r->ban);
}

absl::Status decodeAnswer(const Json& j, UserRecord* r) {
  AnswerReader rd(j, "user");
  KH_TRY(rd.object());
  KH_TRY(rd.str("name", &r->name, true));
  KH_TRY(rd.str("tenant", &r->tenant, true));
  KH_TRY(rd.strList("groups", &r->groups));
  KH_TRY(rd.strList("roles", &r->roles));
  KH_TRY(rd.str("description", &r->description));
  KH_TRY(rd.time("createdAt", &r->created_at));
  return decodeBan(rd, &r->ban);
}

absl::Status decodeAnswer(const Json& j, ClusterRecord* r) {
  AnswerReader rd(j, "cluster");
  KH_TRY(rd.object());
  KH_TRY(rd.str("name", &r->name, true));
  KH_TRY(rd.labels("labels", &r->labels));
  KH_TRY(rd.str("description", &r->description));
  KH_TRY(rd.boolean("disabled", &r->disabled));
  KH_TRY(rd.time("createdAt", &r->created_at));
  const Json* status = nullptr;
  KH_TRY(rd.any("status", &status));
  if (status == nullptr) return absl::OkStatus();
  AnswerReader st(*status, "cluster.status");
  KH_TRY(st.object());
  KH_TRY(st.strList("hubs", &r->hubs));
  KH_TRY(st.optTime("since", &r->connected_since));
  KH_TRY(st.optTime("lastSeen", &r->last_seen));
  KH_TRY(st.optTime("reportedAt", &r->reported_at));
  KH_TRY(st.str("reportedBy", &r->reported_by));
  const Json* report = nullptr;
  KH_TRY(st.any("report", &report));
  if (report != nullptr) {
    if (!report->is_object()) {
      return invalid("cluster.status: field \"report\" must be an object, not " +
                     std::string(typeName(*report)));
    }
    r->report = report->dump();
  }
  return absl::OkStatus();
}

absl::Status decodeAnswer(const Json& j, GrantRecord* r) {
  AnswerReader rd(j, "grant");
  KH_TRY(rd.object());
  auth::Grant& g = r->grant;
  KH_TRY(rd.str("name", &g.name, true));
  KH_TRY(rd.str("tenant", &g.tenant, true));
  KH_TRY(rd.str("user", &g.user));
  KH_TRY(rd.time("createdAt", &r->created_at));
  // The spec as the server stores it; its messages are the request's, made the answer's here.
  absl::Status s = decodeGrantSpec(rd.reader(), &g, "grant");
  if (!s.ok()) return invalid(std::string(s.message()));
  return absl::OkStatus();
}

absl::Status decodeAnswer(const Json& j, TokenRecord* r) {
  AnswerReader rd(j, "token");
  KH_TRY(rd.object());
  KH_TRY(rd.str("id", &r->id, true));
  KH_TRY(rd.str("user", &r->user));
  KH_TRY(rd.str("tenant", &r->tenant));
  KH_TRY(rd.str("description", &r->description));
  KH_TRY(rd.str("keyId", &r->kid));
  KH_TRY(rd.time("issuedAt", &r->issued_at));
  KH_TRY(rd.time("expiresAt", &r->expires_at));
  KH_TRY(rd.optTime("revokedAt", &r->revoked_at));
  return rd.str("issuedBy", &r->issued_by);
}

absl::Status decodeAnswer(const Json& j, HubRecord* r) {
  AnswerReader rd(j, "hub");
  KH_TRY(rd.object());
  KH_TRY(rd.str("id", &r->id, true));
  KH_TRY(rd.labels("addresses", &r->addresses));
  KH_TRY(rd.integer("agents", &r->agents));
  KH_TRY(rd.number("load", &r->load));
  KH_TRY(rd.str("version", &r->version));
  KH_TRY(rd.time("registeredAt", &r->registered_at));
  KH_TRY(rd.time("lastHeartbeat", &r->last_heartbeat));
  KH_TRY(rd.boolean("alive", &r->alive));
  KH_TRY(rd.boolean("draining", &r->draining));
  return rd.str("drainReason", &r->drain_reason);
}

absl::Status decodeAnswer(const Json& j, EndpointRecord* r) {
  return decodeEndpoint(j, "endpoint", r);
}

absl::Status decodeAnswer(const Json& j, RoutingTable* r) {
  AnswerReader rd(j, "routes");
  KH_TRY(rd.object());
  KH_TRY(rd.list("hubs", &r->hubs, [](const Json& h, const std::string& where, HubRecord* out) {
    AnswerReader hr(h, where);
    KH_TRY(hr.object());
    KH_TRY(hr.str("id", &out->id, true));
    KH_TRY(hr.labels("addresses", &out->addresses));
    KH_TRY(hr.str("version", &out->version));
    out->alive = true;  // the table lists live hubs only
    return hr.boolean("draining", &out->draining);
  }));
  struct Route {
    std::string cluster;
    std::vector<std::string> hubs;
  };
  std::vector<Route> routes;
  KH_TRY(rd.list("routes", &routes, [](const Json& c, const std::string& where, Route* out) {
    AnswerReader cr(c, where);
    KH_TRY(cr.object());
    KH_TRY(cr.str("cluster", &out->cluster, true));
    return cr.strList("hubs", &out->hubs);
  }));
  r->connections.clear();
  for (const auto& route : routes) {
    for (const auto& hub : route.hubs) r->connections.push_back({route.cluster, hub});
  }
  return absl::OkStatus();
}

absl::Status decodeAnswer(const Json& j, AuditRecord* r) {
  AnswerReader rd(j, "audit record");
  KH_TRY(rd.object());
  KH_TRY(rd.integer("id", &r->id));
  KH_TRY(rd.time("at", &r->at));
  KH_TRY(rd.str("actor", &r->actor));
  KH_TRY(rd.str("action", &r->action));
  KH_TRY(rd.str("resource", &r->resource));
  int64_t status = 0;
  KH_TRY(rd.integer("status", &status));
  r->status = static_cast<int>(status);
  KH_TRY(rd.str("detail", &r->detail));
  return rd.str("peer", &r->peer);
}

absl::Status decodeAnswer(const Json& j, BansAnswer* r) {
  AnswerReader rd(j, "bans");
  KH_TRY(rd.object());
  KH_TRY(rd.list("users", &r->bans.users, decodeBanEntry));
  KH_TRY(rd.list("tenants", &r->bans.tenants, decodeBanEntry));
  KH_TRY(rd.list("clusters", &r->bans.clusters, decodeBanEntry));
  return rd.integer("serverTime", &r->server_time);
}

absl::Status decodeAnswer(const Json& j, IssuedToken* r) {
  KH_TRY(decodeAnswer(j, &r->record));
  AnswerReader rd(j, "token");
  return rd.str("token", &r->token, true);
}

absl::Status decodeAnswer(const Json& j, BootstrapToken* r) {
  AnswerReader rd(j, "bootstrap token");
  KH_TRY(rd.object());
  KH_TRY(rd.str("cluster", &r->cluster, true));
  KH_TRY(rd.str("id", &r->id));
  KH_TRY(rd.str("token", &r->token, true));
  KH_TRY(rd.time("expiresAt", &r->expires_at));
  KH_TRY(rd.str("caCert", &r->ca_cert));
  KH_TRY(rd.str("certificatePath", &r->certificate_path));
  KH_TRY(rd.str("metaserverUrl", &r->metaserver_url));
  return rd.str("hubUrl", &r->hub_url);
}

absl::Status decodeAnswer(const Json& j, SignedCertificate* r) {
  AnswerReader rd(j, "certificate");
  KH_TRY(rd.object());
  KH_TRY(rd.str("certificate", &r->certificate, true));
  KH_TRY(rd.str("caCert", &r->ca_cert));
  KH_TRY(rd.str("serial", &r->serial));
  return rd.time("notAfter", &r->not_after);
}

absl::Status decodeAnswer(const Json& j, Whoami* r) {
  AnswerReader rd(j, "whoami");
  KH_TRY(rd.object());
  KH_TRY(rd.str("actor", &r->actor));
  KH_TRY(rd.boolean("admin", &r->admin));
  KH_TRY(rd.boolean("hub", &r->hub));
  KH_TRY(rd.str("user", &r->user));
  KH_TRY(rd.str("tenant", &r->tenant));
  KH_TRY(rd.strList("roles", &r->roles));
  return rd.str("tokenId", &r->token_id);
}

absl::Status decodeAnswer(const Json& j, RevocationsAnswer* r) {
  AnswerReader rd(j, "revocations");
  KH_TRY(rd.object());
  KH_TRY(rd.integer("cursor", &r->page.cursor, true));
  KH_TRY(rd.integer("serverTime", &r->server_time));
  KH_TRY(rd.boolean("more", &r->page.more));  // absent from metaservers before it: false
  return rd.list("items", &r->page.items,
                 [](const Json& e, const std::string& where, RevocationRecord* out) {
                   AnswerReader er(e, where);
                   KH_TRY(er.object());
                   KH_TRY(er.str("jti", &out->token_id, true));
                   KH_TRY(er.integer("expiresAt", &out->expires_at));
                   return er.integer("revokedAt", &out->revoked_at);
                 });
}

absl::Status decodeAnswer(const Json& j, ChangesPage* r) {
  AnswerReader rd(j, "changes");
  KH_TRY(rd.object());
  KH_TRY(rd.str("since", &r->since, true));
  const Json* feeds = nullptr;
  KH_TRY(rd.any("feeds", &feeds, true));
  if (!feeds->is_object()) return invalid(rd.field("feeds") + " must be an object of integers");
  r->feeds.clear();
  for (const auto& [feed, generation] : feeds->items()) {
    if (!generation.is_number_integer()) {
      return invalid("changes: feed \"" + feed + "\" must be an integer, not " +
                     typeName(generation));
    }
    r->feeds.emplace(feed, generation.get<int64_t>());
  }
  return absl::OkStatus();
}

absl::Status decodeAnswer(const Json& j, ClusterEndpoints* r) {
  AnswerReader rd(j, "endpoints");
  KH_TRY(rd.object());
  KH_TRY(rd.str("cluster", &r->cluster));
  return rd.list("endpoints", &r->endpoints, decodeEndpoint);
}

}  // namespace kubehub::metaserver
