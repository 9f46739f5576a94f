#include "metaserver/client/metaserver_client.h"

#include "absl/strings/cord.h"

namespace kubehub::metaserver {

namespace {

constexpr absl::string_view kHttpStatusPayload = "kubehub.dev/metaserver-answer-status";

absl::StatusCode codeForHttp(int status) {
  switch (status) {
    case 400:
    case 413:
    case 415:
    case 422:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
    case 405:
      return absl::StatusCode::kNotFound;
    case 409:
      return absl::StatusCode::kFailedPrecondition;
    case 416:
      return absl::StatusCode::kOutOfRange;
    case 429:
      return absl::StatusCode::kResourceExhausted;
    case 501:
      return absl::StatusCode::kUnimplemented;
    case 502:
    case 503:
    case 504:
      return absl::StatusCode::kUnavailable;
    default:
      return status >= 500 ? absl::StatusCode::kInternal : absl::StatusCode::kUnknown;
  }
}

}  // namespace

absl::Status statusFromHttp(int http_status, std::string_view body) {
  // The metaserver's error body: {"error": {"code": N, "message": "..."}}.
  Json err = Json::parse(body, nullptr, false);
  std::string message;
  if (err.is_object()) {
    auto e = err.find("error");
    if (e != err.end() && e->is_object()) {
      auto m = e->find("message");
      if (m != e->end() && m->is_string()) message = m->get<std::string>();
    }
  }
  if (message.empty()) message = std::string(body.substr(0, 300));
  absl::Status s(codeForHttp(http_status), message);
  s.SetPayload(kHttpStatusPayload, absl::Cord(std::to_string(http_status)));
  return s;
}

int httpStatusOf(const absl::Status& status) {
  auto payload = status.GetPayload(kHttpStatusPayload);
  if (!payload) return 0;
  int out = 0;
  for (char c : std::string(*payload)) out = out * 10 + (c - '0');
  return out;
}

absl::StatusOr<std::unique_ptr<MetaserverClient>> MetaserverClient::create(
    MetaserverClientOptions options) {
  net::HttpClientOptions http;
  http.tls = options.tls;
  http.timeout = options.timeout;
  auto client = net::HttpClient::create(options.url, http);
  if (!client.ok()) return client.status();
  return std::unique_ptr<MetaserverClient>(
      new MetaserverClient(std::move(options), std::move(*client)));
}

MetaserverClient::MetaserverClient(MetaserverClientOptions options,
                                   std::unique_ptr<net::HttpClient> http)
    : options_(std::move(options)), http_(std::move(http)) {}

MetaserverClient::~MetaserverClient() = default;

void MetaserverClient::cancel() { http_->cancel(); }

std::string MetaserverClient::escape(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : in) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~' || c == '@') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string MetaserverClient::query(
    std::initializer_list<std::pair<const char*, std::string>> params) {
  std::string q;
  for (const auto& p : params) {
    if (p.second.empty()) continue;
    q += (q.empty() ? "?" : "&") + std::string(p.first) + "=" + escape(p.second);
  }
  return q;
}

std::string MetaserverClient::pageTarget(const std::string& target, int limit,
                                         const std::string& token) {
  if (limit <= 0) return target;
  return target + (target.find('?') == std::string::npos ? "?" : "&") +
         "limit=" + std::to_string(limit) + (token.empty() ? "" : "&continue=" + escape(token));
}

absl::Status MetaserverClient::undecodable(const std::string& method, const std::string& target,
                                           const absl::Status& why) {
  return absl::DataLossError(method + " " + target +
                             ": the answer does not decode: " + std::string(why.message()));
}

absl::StatusOr<net::HttpClientResponse> MetaserverClient::exchange(const std::string& method,
                                                                   const std::string& target,
                                                                   const std::string& body,
                                                                   const net::HeaderList& extra) {
  net::HeaderList headers = {{"Accept", "application/json"}};
  std::string token = options_.token_source ? options_.token_source() : options_.token;
  if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
  if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
  for (const auto& h : extra) headers.push_back(h);
  auto r = http_->request(method, target, body, headers);
  if (!r.ok()) return r.status();
  if (r->status != 304 && (r->status < 200 || r->status >= 300)) {
    return statusFromHttp(r->status, r->body);
  }
  return r;
}

absl::StatusOr<Json> MetaserverClient::call(const std::string& method, const std::string& target,
                                            const std::optional<Json>& body) {
  auto r = exchange(method, target, body ? body->dump() : std::string(), {});
  if (!r.ok()) return r.status();
  if (r->body.empty()) return Json::object();
  Json j = Json::parse(r->body, nullptr, false);
  if (j.is_discarded()) {
    return undecodable(method, target, absl::InvalidArgumentError("not JSON"));
  }
  return j;
}

absl::StatusOr<net::HttpClientResponse> MetaserverClient::getText(const std::string& target) {
  return exchange("GET", target, "", {});
}

absl::StatusOr<Whoami> MetaserverClient::whoami() {
  return callAs<Whoami>("GET", "/api/v1/whoami");
}

absl::StatusOr<Json> MetaserverClient::signingKeys() { return call("GET", "/api/v1/signing-keys"); }

absl::StatusOr<RevocationsAnswer> MetaserverClient::revocations(int64_t since) {
  return callAs<RevocationsAnswer>("GET", "/api/v1/revocations?since=" + std::to_string(since));
}

absl::StatusOr<BansAnswer> MetaserverClient::bans() {
  return callAs<BansAnswer>("GET", "/api/v1/bans");
}

absl::StatusOr<Conditional<Json>> MetaserverClient::routesAnswer(const std::string& etag) {
  net::HeaderList extra;
  if (!etag.empty()) extra.emplace_back("If-None-Match", etag);
  auto r = exchange("GET", "/api/v1/routes", "", extra);
  if (!r.ok()) return r.status();
  Conditional<Json> out;
  out.etag = net::findHeader(r->headers, "ETag").value_or(etag);
  if (r->status == 304) {
    out.not_modified = true;
    return out;
  }
  out.value = Json::parse(r->body, nullptr, false);
  if (out.value.is_discarded()) {
    return undecodable("GET", "/api/v1/routes", absl::InvalidArgumentError("not JSON"));
  }
  return out;
}

absl::StatusOr<Conditional<RoutingTable>> MetaserverClient::routes(const std::string& etag) {
  auto answer = routesAnswer(etag);
  if (!answer.ok()) return answer.status();
  Conditional<RoutingTable> out;
  out.not_modified = answer->not_modified;
  out.etag = std::move(answer->etag);
  if (out.not_modified) return out;
  auto table = decode<RoutingTable>("GET", "/api/v1/routes", answer->value);
  if (!table.ok()) return table.status();
  out.value = std::move(*table);
  return out;
}

absl::StatusOr<ChangesPage> MetaserverClient::changes(const std::string& since,
                                                      std::chrono::seconds wait) {
  std::string target = "/api/v1/changes?wait=" + std::to_string(wait.count());
  if (!since.empty()) target += "&since=" + escape(since);
  return callAs<ChangesPage>("GET", target);
}

absl::StatusOr<std::vector<GrantRecord>> MetaserverClient::grants(int page_size) {
  auto all = listAll<GrantRecord>("/api/v1/grants", page_size);
  if (!all.ok()) return all.status();
  return std::move(all->items);
}

absl::StatusOr<std::vector<ClusterRecord>> MetaserverClient::clusters(int page_size) {
  auto all = listAll<ClusterRecord>("/api/v1/clusters", page_size);
  if (!all.ok()) return all.status();
  return std::move(all->items);
}

absl::StatusOr<ClusterRecord> MetaserverClient::cluster(const std::string& name) {
  return callAs<ClusterRecord>("GET", "/api/v1/clusters/" + escape(name));
}

absl::StatusOr<TenantRecord> MetaserverClient::tenant(const std::string& name) {
  return callAs<TenantRecord>("GET", "/api/v1/tenants/" + escape(name));
}

absl::StatusOr<UserRecord> MetaserverClient::user(const std::string& name) {
  return callAs<UserRecord>("GET", "/api/v1/users/" + escape(name));
}

absl::StatusOr<GrantRecord> MetaserverClient::grant(const std::string& name) {
  return callAs<GrantRecord>("GET", "/api/v1/grants/" + escape(name));
}

absl::StatusOr<TokenRecord> MetaserverClient::token(const std::string& id) {
  return callAs<TokenRecord>("GET", "/api/v1/tokens/" + escape(id));
}

absl::StatusOr<HubRecord> MetaserverClient::hub(const std::string& id) {
  return callAs<HubRecord>("GET", "/api/v1/hubs/" + escape(id));
}

absl::StatusOr<ClusterEndpoints> MetaserverClient::endpoints(const std::string& cluster) {
  return callAs<ClusterEndpoints>("GET", "/api/v1/clusters/" + escape(cluster) + "/endpoints");
}

absl::StatusOr<BootstrapToken> MetaserverClient::bootstrap(const std::string& cluster,
                                                           const std::string& ttl) {
  Json body = Json::object();
  if (!ttl.empty()) body["ttl"] = ttl;
  return callAs<BootstrapToken>("POST", "/api/v1/clusters/" + escape(cluster) + "/bootstrap", body);
}

absl::StatusOr<SignedCertificate> MetaserverClient::signCertificate(bool hub,
                                                                    const std::string& name,
                                                                    const std::string& csr_pem) {
  std::string target =
      std::string(hub ? "/api/v1/hubs/" : "/api/v1/clusters/") + escape(name) + "/certificate";
  return callAs<SignedCertificate>("POST", target, Json{{"csr", csr_pem}});
}

absl::StatusOr<IssuedToken> MetaserverClient::issueToken(const std::string& user,
                                                         const std::string& ttl,
                                                         const std::string& description) {
  Json body = {{"user", user}};
  if (!ttl.empty()) body["ttl"] = ttl;
  if (!description.empty()) body["description"] = description;
  return callAs<IssuedToken>("POST", "/api/v1/tokens", body);
}

absl::StatusOr<KubeconfigAnswer> MetaserverClient::kubeconfig(const std::string& user,
                                                              const std::string& cluster,
                                                              const std::string& ttl) {
  auto r = getText("/api/v1/users/" + escape(user) + "/kubeconfig" +
                   query({{"cluster", cluster}, {"ttl", ttl}}));
  if (!r.ok()) return r.status();
  KubeconfigAnswer out;
  out.text = std::move(r->body);
  out.token_id = net::findHeader(r->headers, "X-Kubehub-Token-Id").value_or("");
  return out;
}

absl::Status MetaserverClient::heartbeat(const std::string& hub_id, const HubHeartbeat& beat) {
  return call("PUT", "/api/v1/hubs/" + escape(hub_id), toJson(beat)).status();
}

absl::Status MetaserverClient::leave(const std::string& hub_id) {
  return call("DELETE", "/api/v1/hubs/" + escape(hub_id)).status();
}

absl::Status MetaserverClient::clusterConnected(const std::string& cluster,
                                                const std::string& hub_id) {
  return call("PUT", "/api/v1/clusters/" + escape(cluster) + "/connection", Json{{"hub", hub_id}})
      .status();
}

absl::Status MetaserverClient::clusterDisconnected(const std::string& cluster,
                                                   const std::string& hub_id) {
  return call("DELETE",
              "/api/v1/clusters/" + escape(cluster) + "/connection" + query({{"hub", hub_id}}))
      .status();
}

absl::Status MetaserverClient::reportClusterStatus(const std::string& hub_id, const Json& reports) {
  return call("POST", "/api/v1/hubs/" + escape(hub_id) + "/cluster-status",
              Json{{"reports", reports}})
      .status();
}

}  // namespace kubehub::metaserver
