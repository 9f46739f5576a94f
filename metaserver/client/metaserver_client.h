#pragma once
/// The metaserver's REST API as typed calls, for the hubs' sync and kubehubctl: bearer token,
/// TLS, JSON bodies, paging with continue tokens, ETag revalidation and the change feed's long
/// poll. Answers are decoded with the model's codec (metaserver/model/codec.h); an HTTP error
/// becomes an absl::Status carrying the server's message and the HTTP status (httpStatusOf).
///
/// Synchronous, one request at a time: a client is not thread-safe (one per thread), except
/// cancel(), which any thread may call to end a blocked call (a long poll) and every later one.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/net/http_client.h"
#include "common/net/tls.h"
#include "metaserver/model/codec.h"

namespace kubehub::metaserver {

struct MetaserverClientOptions {
  std::string url;  // https://metaserver:8443
  /// Sent as "Authorization: Bearer TOKEN" when not empty.
  std::string token;
  /// When set, the token in force for each request (a rotated token file); overrides `token`.
  std::function<std::string()> token_source;
  net::ClientTlsOptions tls;
  /// Per request; a long poll needs its wait on top of it.
  std::chrono::milliseconds timeout{30000};
};

/// The absl::Status for an HTTP error answer: the code mapped from the status (404 NotFound,
/// 409 FailedPrecondition, 401 Unauthenticated, 403 PermissionDenied, 400 and 422
/// InvalidArgument, 503 Unavailable, ...), the message the server's error body gives (or the
/// start of the body), and the HTTP status kept for httpStatusOf.
absl::Status statusFromHttp(int http_status, std::string_view body);
/// The HTTP status an error came with; 0 when it did not come from an answer (unreachable,
/// cancelled, an answer that does not decode).
int httpStatusOf(const absl::Status& status);

/// One page of a list, and what the answer held besides its items (e.g. the hubs' ttlSeconds).
template <class T>
struct ListPage {
  std::vector<T> items;
  std::string continue_token;  // empty on the last page
  Json extra = Json::object();
};

/// An answer revalidated with its ETag: `not_modified` (304) leaves `value` default.
template <class T>
struct Conditional {
  bool not_modified = false;
  std::string etag;
  T value;
};

struct KubeconfigAnswer {
  std::string text;      // YAML
  std::string token_id;  // of the token the kubeconfig carries
};

class MetaserverClient {
 public:
  /// InvalidArgument for a bad URL or TLS material.
  static absl::StatusOr<std::unique_ptr<MetaserverClient>> create(MetaserverClientOptions options);
  ~MetaserverClient();

  // The generic layer: METHOD target with an optional JSON body; any 2xx answer's JSON ({} when
  // empty); an error status otherwise (statusFromHttp).
  absl::StatusOr<Json> call(const std::string& method, const std::string& target,
                            const std::optional<Json>& body = std::nullopt);
  /// call(), then the answer decoded as T.
  template <class T>
  absl::StatusOr<T> callAs(const std::string& method, const std::string& target,
                           const std::optional<Json>& body = std::nullopt) {
    auto j = call(method, target, body);
    if (!j.ok()) return j.status();
    return decode<T>(method, target, *j);
  }
  /// One page of a list: `limit` items at most (0: the server's whole list), after `token`.
  template <class T>
  absl::StatusOr<ListPage<T>> listPage(const std::string& target, int limit,
                                       const std::string& token = "") {
    auto j = call("GET", pageTarget(target, limit, token));
    if (!j.ok()) return j.status();
    return decodePage<T>(target, *j);
  }
  /// Every page of a list, `page_size` items per request (0: one request for all), as one page
  /// (the first page's extra fields, no continue token).
  template <class T>
  absl::StatusOr<ListPage<T>> listAll(const std::string& target, int page_size) {
    ListPage<T> all;
    std::string token;
    for (bool first = true;; first = false) {
      auto page = listPage<T>(target, page_size, token);
      if (!page.ok()) return page.status();
      if (first) all.extra = std::move(page->extra);
      for (auto& item : page->items) all.items.push_back(std::move(item));
      token = std::move(page->continue_token);
      if (token.empty() || page_size == 0) break;
    }
    return all;
  }
  /// A plain-text answer (a PEM, a kubeconfig) and the answer's headers.
  absl::StatusOr<net::HttpClientResponse> getText(const std::string& target);

  // Typed calls.
  absl::StatusOr<Whoami> whoami();
  absl::StatusOr<Json> signingKeys();  // a JWK set plus activeKeyId
  absl::StatusOr<RevocationsAnswer> revocations(int64_t since);
  absl::StatusOr<BansAnswer> bans();
  /// GET /api/v1/routes, revalidated with `etag` when not empty.
  absl::StatusOr<Conditional<RoutingTable>> routes(const std::string& etag);
  /// routes() undecoded, for a reader with rules of its own (a hub skips entries it cannot use).
  absl::StatusOr<Conditional<Json>> routesAnswer(const std::string& etag);
  /// The change feed's long poll: answers when a feed moved past `since` ("" for now) or after
  /// `wait` with the current generations.
  absl::StatusOr<ChangesPage> changes(const std::string& since, std::chrono::seconds wait);

  absl::StatusOr<std::vector<GrantRecord>> grants(int page_size = 0);
  absl::StatusOr<std::vector<ClusterRecord>> clusters(int page_size = 0);
  absl::StatusOr<ClusterRecord> cluster(const std::string& name);
  absl::StatusOr<TenantRecord> tenant(const std::string& name);
  absl::StatusOr<UserRecord> user(const std::string& name);
  absl::StatusOr<GrantRecord> grant(const std::string& name);
  absl::StatusOr<TokenRecord> token(const std::string& id);
  absl::StatusOr<HubRecord> hub(const std::string& id);
  absl::StatusOr<ClusterEndpoints> endpoints(const std::string& cluster);
  absl::StatusOr<BootstrapToken> bootstrap(const std::string& cluster, const std::string& ttl);
  /// Signs a CSR for a cluster's agent or (`hub` true) a hub.
  absl::StatusOr<SignedCertificate> signCertificate(bool hub, const std::string& name,
                                                    const std::string& csr_pem);
  absl::StatusOr<IssuedToken> issueToken(const std::string& user, const std::string& ttl,
                                         const std::string& description);
  absl::StatusOr<KubeconfigAnswer> kubeconfig(const std::string& user, const std::string& cluster,
                                              const std::string& ttl);

  // The registry, as a hub reports to it.
  absl::Status heartbeat(const std::string& hub_id, const HubHeartbeat& beat);
  absl::Status leave(const std::string& hub_id);
  absl::Status clusterConnected(const std::string& cluster, const std::string& hub_id);
  absl::Status clusterDisconnected(const std::string& cluster, const std::string& hub_id);
  absl::Status reportClusterStatus(const std::string& hub_id, const Json& reports);

  /// Ends the call in progress (from any thread) and every later one with Unavailable.
  void cancel();

  /// Percent-encodes a path segment or query value.
  static std::string escape(std::string_view in);
  /// "?a=x&b=y" from the pairs whose value is not empty ("" when none is).
  static std::string query(std::initializer_list<std::pair<const char*, std::string>> params);

 private:
  MetaserverClient(MetaserverClientOptions options, std::unique_ptr<net::HttpClient> http);
  absl::StatusOr<net::HttpClientResponse> exchange(const std::string& method,
                                                   const std::string& target,
                                                   const std::string& body,
                                                   const net::HeaderList& extra);
  static std::string pageTarget(const std::string& target, int limit, const std::string& token);
  static absl::Status undecodable(const std::string& method, const std::string& target,
                                  const absl::Status& why);
  template <class T>
  static absl::StatusOr<T> decode(const std::string& method, const std::string& target,
                                  const Json& j) {
    auto out = fromJson<T>(j);
    if (!out.ok()) return undecodable(method, target, out.status());
    return out;
  }
  template <class T>
  static absl::StatusOr<ListPage<T>> decodePage(const std::string& target, const Json& j) {
    if (!j.is_object())
      return undecodable("GET", target, absl::InvalidArgumentError("not an object"));
    ListPage<T> page;
    page.extra = j;
    page.extra.erase("items");
    page.extra.erase("metadata");
    auto items = j.find("items");
    if (items != j.end() && !items->is_null()) {
      if (!items->is_array())
        return undecodable("GET", target, absl::InvalidArgumentError("items is not an array"));
      for (size_t i = 0; i < items->size(); ++i) {
        auto item = fromJson<T>((*items)[i]);
        if (!item.ok()) {
          return undecodable("GET", target,
                             absl::InvalidArgumentError("items[" + std::to_string(i) + "]: " +
                                                        std::string(item.status().message())));
        }
        page.items.push_back(std::move(*item));
      }
    }
    auto meta = j.find("metadata");
    if (meta != j.end() && meta->is_object()) {
      auto token = meta->find("continue");
      if (token != meta->end() && token->is_string())
        page.continue_token = token->get<std::string>();
    }
    return page;
  }

  const MetaserverClientOptions options_;
  std::unique_ptr<net::HttpClient> http_;
};

}  // namespace kubehub::metaserver
