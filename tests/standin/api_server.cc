#include "tests/standin/api_server.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>

#include "absl/strings/numbers.h"
#include "common/k8s/cluster_path.h"
#include "common/k8s/list_options.h"
#include "common/k8s/query.h"
#include "tests/standin/api_error.h"
#include "tests/standin/continue_token.h"
#include "tests/standin/field_labels.h"
#include "tests/standin/managed_fields.h"
#include "tests/standin/patch.h"
#include "tests/standin/protobuf_decoder.h"
#include "tests/standin/proxy_path.h"
#include "tests/standin/seed_data.h"

namespace kubehub::standin {
namespace {

constexpr char kJson[] = "application/json";
constexpr char kTableContentType[] = "application/json;as=Table;v=v1;g=meta.k8s.io";
constexpr char kNotFoundMessage[] = "the server could not find the requested resource";
constexpr char kInconsistentContinue[] =
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted between "
    "the time the first chunk was returned and now may show up in the list.";
constexpr char kExpiredList[] = "The resourceVersion for the provided list is too old.";
constexpr char kAgentUser[] = "system:serviceaccount:kubehub-system:kubehub-agent";

int64_t nowSeconds() { return static_cast<int64_t>(std::time(nullptr)); }

// ---- request helpers ----------------------------------------------------------------------

/// A request's query as the server reads it (k8s::QueryValues: Go's url.ParseQuery).
class Query {
 public:
  explicit Query(std::string_view raw) : values_(raw) {}
  std::optional<std::string> get(std::string_view name) const { return values_.first(name); }
  std::string value(std::string_view name) const { return get(name).value_or(""); }
  std::vector<std::string> all(std::string_view name) const {
    std::vector<std::string> out;
    for (const auto& [k, v] : values_.pairs()) {
      if (k == name) out.push_back(v);
    }
    return out;
  }
  /// A boolean parameter as the server decodes it (k8s::queryBool).
  bool flag(std::string_view name) const { return k8s::queryBool(values_, name); }
  /// The list options of a LIST, WATCH or DELETE of a collection, decoded and validated as the
  /// server does (400 and 422 with its words).
  absl::StatusOr<k8s::ListOptions> listOptions() const { return k8s::parseListOptions(values_); }

 private:
  k8s::QueryValues values_;
};

// metadata.labels of an object, or null.
const Json* labelsOf(const Json& object) {
  auto m = object.find("metadata");
  if (m == object.end() || !m->is_object()) return nullptr;
  auto l = m->find("labels");
  return l == m->end() ? nullptr : &*l;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::optional<std::string> header(const HeaderList& h, std::string_view name) {
  for (const auto& [k, v] : h) {
    if (iequals(k, name)) return v;
  }
  return std::nullopt;
}

/// Every value of a header that may repeat (one line each, or comma-separated).
std::vector<std::string> headerValues(const HeaderList& h, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& [k, v] : h) {
    if (!iequals(k, name)) continue;
    size_t pos = 0;
    while (pos <= v.size()) {
      size_t end = std::min(v.find(',', pos), v.size());
      std::string_view p = std::string_view(v).substr(pos, end - pos);
      while (!p.empty() && (p.front() == ' ' || p.front() == '\t')) p.remove_prefix(1);
      while (!p.empty() && (p.back() == ' ' || p.back() == '\t')) p.remove_suffix(1);
      if (!p.empty()) out.emplace_back(p);
      pos = end + 1;
    }
  }
  return out;
}

/// httpstream.Handshake's refusal when no offered protocol is served.
absl::Status noProtocol(const std::vector<std::string>& offered,
                        std::initializer_list<const char*> served) {
  std::string msg = "unable to upgrade: unable to negotiate protocol: client supports [";
  for (size_t i = 0; i < offered.size(); ++i) msg += (i ? " " : "") + offered[i];
  msg += "], server supports [";
  size_t i = 0;
  for (const char* p : served) msg += std::string(i++ ? " " : "") + p;
  msg += "]";
  return apiError(403, "Forbidden", msg);
}

std::vector<std::string> splitPath(std::string_view path) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    if (end > pos) out.push_back(k8s::percentDecode(path.substr(pos, end - pos)));
    pos = end + 1;
  }
  return out;
}

ApiResult jsonResult(int status, std::string body, const char* content_type = kJson) {
  ApiResult r;
  r.response.status = status;
  r.response.body = std::move(body);
  r.response.content_type = content_type;
  return r;
}

ApiResult errorResult(const absl::Status& status) {
  ErrorResponse e = toErrorResponse(status);
  return jsonResult(e.code, std::move(e.body));
}

std::string metaString(const Json& obj, const char* key) {
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return {};
  auto it = m->find(key);
  if (it == m->end() || !it->is_string()) return {};
  return it->get<std::string>();
}

// ---- content negotiation --------------------------------------------------------------------

struct OutputFormat {
  enum Kind { kObject, kTable, kPartial } kind = kObject;
  std::string meta_version = "v1";
};

absl::StatusOr<OutputFormat> negotiate(const HeaderList& headers) {
  std::string accept = header(headers, "Accept").value_or("");
  if (accept.empty()) return OutputFormat{};
  size_t pos = 0;
  while (pos <= accept.size()) {
    size_t end = accept.find(',', pos);
    if (end == std::string::npos) end = accept.size();
    std::string item = accept.substr(pos, end - pos);
    pos = end + 1;
    // Split "type;k=v;k=v".
    std::vector<std::string> parts;
    size_t p = 0;
    while (p <= item.size()) {
      size_t e = item.find(';', p);
      if (e == std::string::npos) e = item.size();
      std::string s = item.substr(p, e - p);
      s.erase(0, s.find_first_not_of(' '));
      s.erase(s.find_last_not_of(' ') + 1);
      parts.push_back(s);
      p = e + 1;
    }
    const std::string& type = parts[0];
    if (type != "application/json" && type != "*/*" && type != "application/*" &&
        type != "application/yaml") {
      continue;
    }
    std::string as, v, g;
    for (size_t i = 1; i < parts.size(); ++i) {
      size_t eq = parts[i].find('=');
      if (eq == std::string::npos) continue;
      std::string k = parts[i].substr(0, eq);
      std::string val = parts[i].substr(eq + 1);
      if (k == "as") as = val;
      if (k == "v") v = val;
      if (k == "g") g = val;
    }
    if (as.empty()) return OutputFormat{};
    if (g == "meta.k8s.io" && (v == "v1" || v == "v1beta1")) {
      if (as == "Table") return OutputFormat{OutputFormat::kTable, v};
      if (as == "PartialObjectMetadata" || as == "PartialObjectMetadataList") {
        return OutputFormat{OutputFormat::kPartial, v};
      }
    }
    // Aggregated discovery and other conversions we do not serve: try the next alternative.
    if (end == accept.size()) break;
  }
  return apiError(406, "NotAcceptable",
                  "only the following media types are accepted: application/json, "
                  "application/yaml, application/vnd.kubernetes.protobuf");
}

absl::StatusOr<IncludeObject> includeObjectParam(const Query& q) {
  std::string v = q.value("includeObject");
  if (v.empty() || v == "Metadata") return IncludeObject::kMetadata;
  if (v == "None") return IncludeObject::kNone;
  if (v == "Object") return IncludeObject::kObject;
  return badRequest("unrecognized includeObject value: \"" + v + "\"");
}

// ---- identity -------------------------------------------------------------------------------

std::string unescapeExtraKey(std::string_view key) {
  std::string lower(key);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return k8s::percentDecode(lower);
}

absl::StatusOr<UserInfo> impersonate(const UserInfo& who, const HeaderList& headers) {
  std::optional<std::string> user;
  std::optional<std::string> uid;
  std::vector<std::string> groups;
  std::vector<std::pair<std::string, std::vector<std::string>>> extra;
  bool any = false;
  for (const auto& [k, v] : headers) {
    if (iequals(k, "Impersonate-User")) {
      user = v;
      any = true;
    } else if (iequals(k, "Impersonate-Group")) {
      groups.push_back(v);
      any = true;
    } else if (iequals(k, "Impersonate-Uid")) {
      uid = v;
      any = true;
    } else if (k.size() > 18 && iequals(std::string_view(k).substr(0, 18), "Impersonate-Extra-")) {
      std::string key = unescapeExtraKey(std::string_view(k).substr(18));
      auto it =
          std::find_if(extra.begin(), extra.end(), [&](const auto& e) { return e.first == key; });
      if (it == extra.end()) {
        extra.emplace_back(key, std::vector<std::string>{v});
      } else {
        it->second.push_back(v);
      }
      any = true;
    }
  }
  if (!any) return who;
  if (!user.has_value() || user->empty()) {
    return apiError(500, "InternalError",
                    "Internal error occurred: requested impersonation of groups, uid or extra "
                    "without impersonating a user");
  }
  UserInfo out;
  out.username = *user;
  out.uid = uid.value_or("");
  bool groups_given = !groups.empty();
  out.groups = groups;
  const std::string sa_prefix = "system:serviceaccount:";
  if (!groups_given && out.username.starts_with(sa_prefix)) {
    std::string rest = out.username.substr(sa_prefix.size());
    std::string ns = rest.substr(0, rest.find(':'));
    out.groups = {"system:serviceaccounts", "system:serviceaccounts:" + ns};
  }
  if (out.username != "system:anonymous") {
    bool add = std::none_of(out.groups.begin(), out.groups.end(), [](const std::string& g) {
      return g == "system:authenticated" || g == "system:unauthenticated";
    });
    if (add) out.groups.push_back("system:authenticated");
  }
  out.extra = std::move(extra);
  return out;
}

Json userInfoJson(const UserInfo& u) {
  Json j = {{"username", u.username}};
  if (!u.uid.empty()) j["uid"] = u.uid;
  j["groups"] = u.groups;
  if (!u.extra.empty()) {
    Json e = Json::object();
    for (const auto& [k, v] : u.extra) e[k] = v;
    j["extra"] = e;
  }
  return j;
}

}  // namespace

// ---- routing ---------------------------------------------------------------------------------

struct ApiServer::Route {
  int type = -1;
  bool watch_path = false;  // the legacy /watch/ prefix
  std::string ns;
  std::string name;
  std::string subresource;
  const Query* query = nullptr;
};

namespace {

/// One open session of SessionCounts.
struct SessionHold {
  SessionHold(std::shared_ptr<std::array<std::atomic<int64_t>, SessionCounts::kKinds>> c,
              SessionCounts::Kind k)
      : counts(std::move(c)), kind(k) {
    ++(*counts)[kind];
  }
  ~SessionHold() { --(*counts)[kind]; }
  SessionHold(const SessionHold&) = delete;
  SessionHold& operator=(const SessionHold&) = delete;
  std::shared_ptr<std::array<std::atomic<int64_t>, SessionCounts::kKinds>> counts;
  SessionCounts::Kind kind;
};

}  // namespace

SessionCounts::SessionCounts()
    : counts_(std::make_shared<std::array<std::atomic<int64_t>, kKinds>>()) {}

std::shared_ptr<const void> SessionCounts::hold(Kind kind) {
  return std::make_shared<const SessionHold>(counts_, kind);
}

int64_t SessionCounts::open(Kind kind) const { return (*counts_)[kind].load(); }

ApiServer::ApiServer(StandinConfig config)
    : config_(std::move(config)), discovery_(registry_), store_(registry_, config_.watch_window) {}

void ApiServer::record(const HttpRequest& req) {
  Json headers = Json::object();
  Json list = Json::array();
  for (const auto& [k, v] : req.headers) {
    std::string value = iequals(k, "Authorization") ? "Bearer <redacted>" : v;
    list.push_back(Json::array({k, value}));
    if (headers.contains(k)) {
      headers[k] = headers[k].get<std::string>() + "," + value;
    } else {
      headers[k] = value;
    }
  }
  std::string entry = dumpJson(Json{
      {"method", req.method}, {"target", req.target}, {"headers", headers}, {"headerList", list}});
  std::lock_guard lock(log_mu_);
  recent_.push_back(std::move(entry));
  while (recent_.size() > 100) recent_.pop_front();
}

void ApiServer::seed(bool objects, int64_t extra_pods) { seedObjects(store_, objects, extra_pods); }

std::string ApiServer::recentRequestsJson() const {
  std::lock_guard lock(log_mu_);
  std::string out = "[";
  for (size_t i = 0; i < recent_.size(); ++i) {
    if (i) out.push_back(',');
    out += recent_[i];
  }
  out += "]";
  return out;
}

ApiResult ApiServer::handle(const HttpRequest& req) {
  const std::string& target = req.target;
  size_t qpos = target.find('?');
  std::string path = target.substr(0, qpos);
  std::string query = qpos == std::string::npos ? std::string() : target.substr(qpos + 1);
  if (!path.starts_with("/standin/")) record(req);

  if (path == "/healthz" || path == "/livez" || path == "/readyz") {
    return jsonResult(200, "ok", "text/plain; charset=utf-8");
  }

  // Authentication: the bearer token, else a verified client certificate.
  UserInfo who;
  std::string auth = header(req.headers, "Authorization").value_or("");
  if (!config_.token.empty() && auth == "Bearer " + config_.token) {
    who.username = kAgentUser;
    who.groups = {"system:serviceaccounts", "system:authenticated"};
  } else if (auth.empty() && req.client_cert && !req.client_cn.empty()) {
    who.username = req.client_cn;
    who.groups = req.client_orgs;
    who.groups.push_back("system:authenticated");
  } else {
    return jsonResult(401, dumpJson(Json{{"kind", "Status"},
                                         {"apiVersion", "v1"},
                                         {"metadata", Json::object()},
                                         {"status", "Failure"},
                                         {"message", "Unauthorized"},
                                         {"reason", "Unauthorized"},
                                         {"code", 401}}));
  }
  auto user = impersonate(who, req.headers);
  if (!user.ok()) return errorResult(user.status());
  std::string content_type = header(req.headers, "Content-Type").value_or("");
  if (content_type.starts_with(kProtobufContentType) && !req.body.empty()) {
    // kubectl's typed clients write protobuf; the rest of the server speaks JSON.
    auto decoded = decodeKubernetesProtobuf(req.body);
    if (!decoded.ok()) return errorResult(decoded.status());
    HttpRequest copy = req;
    copy.body = dumpJson(*decoded);
    for (auto& [k, v] : copy.headers) {
      if (iequals(k, "Content-Type")) v = kJson;
    }
    return route(copy, *user, path, query);
  }
  ApiResult result = route(req, *user, path, query);
  if (req.method == "GET") {
    std::lock_guard lock(log_mu_);
    if (auto held = holds_.find(path); held != holds_.end()) result.hold = held->second;
  }
  return result;
}

namespace {

// ---- pods/proxy, services/proxy ----------------------------------------------------------------

// A port of a pod: a number, or the name of one of its containerPorts; 0 when there is none.
int podPort(const Json& pod, const std::string& port) {
  int n = 0;
  if (absl::SimpleAtoi(port, &n)) return n;
  if (!pod.contains("spec") || !pod["spec"].contains("containers")) return 0;
  for (const Json& c : pod["spec"]["containers"]) {
    if (!c.contains("ports")) continue;
    for (const Json& p : c["ports"]) {
      if (p.value("name", "") == port) return p.value("containerPort", 0);
    }
  }
  return 0;
}

// The responder on the pod's port: the echo document, or the API server's dial error when the
// pod declares no such port.
ApiResult proxyToPod(const Json& pod, int port, const HttpRequest& req, const std::string& raw_path,
                     const std::string& query) {
  const std::string ip =
      pod.contains("status") ? pod["status"].value("podIP", std::string()) : std::string();
  std::vector<int> ports = declaredPorts(pod);
  if (port <= 0 || std::find(ports.begin(), ports.end(), port) == ports.end()) {
    return errorResult(apiError(503, "ServiceUnavailable", proxyDialRefused(ip, port)));
  }
  const std::string name = metaString(pod, "namespace") + "/" + metaString(pod, "name");
  ApiResult r = jsonResult(
      200, proxyEchoBody(req.method, proxyBackendPath(raw_path), query, req.body, name, port));
  r.response.api_object = false;  // the backend's bytes, passed on as they came
  if (req.method == "HEAD") r.response.body.clear();
  return r;
}

ApiResult proxy(const ObjectStore& store, const HttpRequest& req, const std::string& raw_path,
                const std::string& query, const std::string& ns, const std::string& resource,
                const std::string& segment) {
  static constexpr const char* kMethods[] = {"GET",    "POST", "PUT",    "PATCH",
                                             "DELETE", "HEAD", "OPTIONS"};
  const ResourceRegistry& reg = store.registry();
  const int pods = reg.find("", "v1", "pods");
  const int type = reg.find("", "v1", resource);
  if (std::find(std::begin(kMethods), std::end(kMethods), req.method) == std::end(kMethods)) {
    return errorResult(methodNotSupported(reg.type(type).groupResource(), req.method));
  }
  auto target = parseProxyTarget(segment);
  if (!target.ok()) return errorResult(target.status());
  auto obj = store.get(type, ns, target->name);
  if (!obj.ok()) return errorResult(obj.status());
  const Json& o = (*obj)->json;
  if (resource == "pods") {
    return proxyToPod(o, target->port.empty() ? 80 : podPort(o, target->port), req, raw_path,
                      query);
  }
  // A service: its port by number or name (the first when none is given), then a pod its
  // selector picks, at the port's targetPort.
  const std::string no_endpoints = "no endpoints available for service \"" + target->name + "\"";
  const Json spec = o.value("spec", Json::object());
  const Json* svc_port = nullptr;
  const Json ports = spec.value("ports", Json::array());
  for (const Json& p : ports) {
    int n = 0;
    if (target->port.empty() || (absl::SimpleAtoi(target->port, &n) && p.value("port", 0) == n) ||
        p.value("name", "") == target->port) {
      svc_port = &p;
      break;
    }
  }
  const Json selector = spec.value("selector", Json::object());
  if (svc_port == nullptr || !selector.is_object() || selector.empty()) {
    return errorResult(apiError(503, "ServiceUnavailable", no_endpoints));
  }
  ListSpec ls;
  ls.ns = ns;
  ls.predicate = [&selector](const StoredObject& so) {
    const Json& meta = so.json["metadata"];
    if (!meta.contains("labels")) return false;
    for (auto it = selector.begin(); it != selector.end(); ++it) {
      if (!meta["labels"].contains(it.key()) || meta["labels"][it.key()] != it.value()) {
        return false;
      }
    }
    return true;
  };
  auto list = store.list(pods, ls);
  if (!list.ok()) return errorResult(list.status());
  if (list->items.empty()) return errorResult(apiError(503, "ServiceUnavailable", no_endpoints));
  const Json& pod = list->items.front()->json;
  const Json target_port =
      svc_port->contains("targetPort") ? (*svc_port)["targetPort"] : (*svc_port)["port"];
  int port = target_port.is_number_integer()
                 ? target_port.get<int>()
                 : podPort(pod, target_port.is_string() ? target_port.get<std::string>() : "");
  return proxyToPod(pod, port, req, raw_path, query);
}

}  // namespace

ApiResult ApiServer::route(const HttpRequest& req, const UserInfo& user, const std::string& path,
                           const std::string& query_text) {
  Query query(query_text);
  const std::string& method = req.method;
  const bool read = method == "GET" || method == "HEAD";

  if (path == "/standin/compact" && method == "POST") {
    store_.compact();
    return jsonResult(
        200, dumpJson(Json{{"compactedResourceVersion", std::to_string(store_.compactedRv())}}));
  }
  if (path == "/standin/requests" && read) return jsonResult(200, recentRequestsJson());
  if (path == "/standin/hold" && method == "POST") {
    // {"path": P, "ms": N}: every GET of P is answered N ms late (0 ends it), so that a test
    // can act while a request is in flight at the edge. Not something a real server offers.
    Json body = Json::parse(req.body, nullptr, false);
    if (!body.is_object() || !body.contains("path") || !body["path"].is_string() ||
        !body.contains("ms") || !body["ms"].is_number_integer() || body["ms"].get<int64_t>() < 0 ||
        body["ms"].get<int64_t>() > 60000) {
      return errorResult(apiError(400, "BadRequest", "want {\"path\": string, \"ms\": 0..60000}"));
    }
    std::lock_guard lock(log_mu_);
    auto ms = std::chrono::milliseconds(body["ms"].get<int64_t>());
    if (ms.count() == 0) {
      holds_.erase(body["path"].get<std::string>());
    } else {
      holds_[body["path"].get<std::string>()] = ms;
    }
    return jsonResult(200, dumpJson(Json{{"holds", holds_.size()}}));
  }
  if (path == "/standin/stats" && read) {
    Json sessions = {{"exec", sessions_.open(SessionCounts::kExec)},
                     {"attach", sessions_.open(SessionCounts::kAttach)},
                     {"portforward", sessions_.open(SessionCounts::kPortForward)}};
    return jsonResult(200, dumpJson(Json{{"watchers", store_.subscriberCount()},
                                         {"sessions", sessions},
                                         {"resourceVersion", std::to_string(store_.currentRv())}}));
  }
  if (path == "/version" && read) return jsonResult(200, discovery_.version());
  if ((path == "/api" || path == "/api/") && read) return jsonResult(200, discovery_.apiVersions());
  if ((path == "/apis" || path == "/apis/") && read) return jsonResult(200, discovery_.groupList());
  if (path == "/openapi/v3" && read) return jsonResult(200, discovery_.openapiV3Index());
  if (path.starts_with("/openapi/v3/") && read) {
    if (auto doc = discovery_.openapiV3(path.substr(12)); doc.has_value()) {
      return jsonResult(200, *doc);
    }
  }

  std::vector<std::string> segs = splitPath(path);
  size_t consumed = 0;
  std::string group;
  std::string version;
  if (segs.size() >= 2 && segs[0] == "api") {
    version = segs[1];
    consumed = 2;
  } else if (segs.size() >= 2 && segs[0] == "apis") {
    group = segs[1];
    if (segs.size() == 2) {
      if (read) {
        if (auto g = discovery_.group(group); g.has_value()) return jsonResult(200, *g);
      }
      return errorResult(apiError(404, "NotFound", kNotFoundMessage));
    }
    version = segs[2];
    consumed = 3;
  } else {
    return errorResult(apiError(404, "NotFound", kNotFoundMessage));
  }
  if (segs.size() == consumed) {
    if (read) {
      if (auto rl = discovery_.resourceList(group, version); rl.has_value()) {
        return jsonResult(200, *rl);
      }
    }
    return errorResult(apiError(404, "NotFound", kNotFoundMessage));
  }
  std::vector<std::string> rest(segs.begin() + static_cast<std::ptrdiff_t>(consumed), segs.end());
  Route r;
  r.query = &query;
  if (!rest.empty() && rest[0] == "watch") {
    r.watch_path = true;
    rest.erase(rest.begin());
  }
  if (group.empty() && !r.watch_path && rest.size() >= 5 && rest[0] == "namespaces" &&
      (rest[2] == "pods" || rest[2] == "services") && rest[4] == "proxy") {
    return proxy(store_, req, path, query_text, rest[1], rest[2], rest[3]);
  }
  std::string resource_name;
  if (rest.size() >= 3 && rest[0] == "namespaces" &&
      !(group.empty() && rest.size() == 3 && (rest[2] == "status" || rest[2] == "finalize"))) {
    r.ns = rest[1];
    resource_name = rest[2];
    if (rest.size() >= 4) r.name = rest[3];
    if (rest.size() >= 5) r.subresource = rest[4];
    if (rest.size() > 5) return errorResult(apiError(404, "NotFound", kNotFoundMessage));
  } else if (!rest.empty()) {
    resource_name = rest[0];
    if (rest.size() >= 2) r.name = rest[1];
    if (rest.size() >= 3) r.subresource = rest[2];
    if (rest.size() > 3) return errorResult(apiError(404, "NotFound", kNotFoundMessage));
  }
  r.type = registry_.find(group, version, resource_name);
  if (r.type < 0) return errorResult(apiError(404, "NotFound", kNotFoundMessage));
  const ResourceType& t = registry_.type(r.type);
  if (!t.namespaced && !r.ns.empty()) {
    return errorResult(apiError(404, "NotFound", kNotFoundMessage));
  }
  if (!r.subresource.empty() && !t.hasSubresource(r.subresource)) {
    return errorResult(apiError(404, "NotFound", kNotFoundMessage));
  }
  return resource(req, user, r);
}

namespace {

// ---- verbs ----------------------------------------------------------------------------------

struct Ctx {
  ObjectStore& store;
  const ResourceType& type;
  int type_id;
  const ApiServer::Route* route = nullptr;
  PodFileSystems* files = nullptr;
};

absl::StatusOr<Json> parseBody(const std::string& body) {
  Json j = Json::parse(body, nullptr, false);
  if (j.is_discarded()) {
    return badRequest(
        "the body of the request was in an unknown format - accepted media types "
        "include: application/json, application/yaml, "
        "application/vnd.kubernetes.protobuf");
  }
  return j;
}

absl::Status checkTypeMeta(const ResourceType& t, const Json& obj) {
  if (!obj.is_object()) {
    return badRequest("Object 'Kind' is missing in '" + dumpJson(obj) + "'");
  }
  std::string av = obj.value("apiVersion", std::string());
  std::string kind = obj.value("kind", std::string());
  if (!av.empty() && av != t.apiVersion()) {
    return badRequest("the API version in the data (" + av +
                      ") does not match the expected API version (" + t.apiVersion() + ")");
  }
  if (!kind.empty() && kind != t.kind) {
    return badRequest("the kind in the data (" + kind + ") does not match the expected kind (" +
                      t.kind + ")");
  }
  return absl::OkStatus();
}

absl::Status fixNamespace(const ResourceType& t, Json& obj, const std::string& ns) {
  if (!t.namespaced) return absl::OkStatus();
  if (!obj.contains("metadata") || !obj["metadata"].is_object()) obj["metadata"] = Json::object();
  std::string have = obj["metadata"].value("namespace", std::string());
  if (have.empty()) {
    obj["metadata"]["namespace"] = ns;
  } else if (have != ns) {
    return badRequest(
        "the namespace of the provided object does not match the namespace sent "
        "on the request");
  }
  return absl::OkStatus();
}

// Label and field selection plus the continue/resourceVersion rules of a LIST.
struct ListQuery {
  k8s::LabelSelector labels;
  k8s::FieldSelector fields;
  ListSpec spec;
  bool continued = false;
};

absl::StatusOr<uint64_t> parseRv(const std::string& text) {
  uint64_t rv = 0;
  if (!absl::SimpleAtoi(text, &rv)) {
    return badRequest("resourceVersion: Invalid value: \"" + text +
                      "\": must be a non-negative integer");
  }
  return rv;
}

absl::Status tooLarge(uint64_t want, uint64_t have) {
  nlohmann::json body = {
      {"kind", "Status"},
      {"apiVersion", "v1"},
      {"metadata", nlohmann::json::object()},
      {"status", "Failure"},
      {"message", "Too large resource version: " + std::to_string(want) +
                      ", current: " + std::to_string(have)},
      {"reason", "Timeout"},
      {"details",
       {{"causes",
         nlohmann::json::array({nlohmann::json{{"reason", "ResourceVersionTooLarge"},
                                               {"message", "Too large resource version"}}})},
        {"retryAfterSeconds", 1}}},
      {"code", 504}};
  return apiError(504, body);
}

absl::StatusOr<ListQuery> listQuery(const Ctx& c, const Query& q) {
  auto options = q.listOptions();
  if (!options.ok()) return options.status();
  if (auto s = checkFieldLabels(options->fields, c.type); !s.ok()) return s;
  ListQuery lq;
  lq.labels = std::move(options->labels);
  lq.fields = std::move(options->fields);
  lq.spec.ns = c.route->ns;
  lq.spec.name = lq.fields.requiresExactMatch("metadata.name");
  if (auto ns = lq.fields.requiresExactMatch("metadata.namespace");
      ns.has_value() && c.type.namespaced && lq.spec.ns.empty()) {
    lq.spec.ns = *ns;
  }
  // A limit of zero or less means no limit, as in the server's storage.
  if (options->limit > 0) lq.spec.limit = static_cast<size_t>(options->limit);
  const std::string& rv_text = options->resource_version;
  const std::string& match = options->resource_version_match;
  const std::string& cont = options->continue_token;
  const uint64_t current = c.store.currentRv();
  if (!cont.empty()) {
    if (!rv_text.empty() && rv_text != "0") {
      return badRequest("specifying resource version is not allowed when using continue");
    }
    auto token = ContinueToken::decode(cont);
    if (!token.ok()) return token.status();
    lq.continued = true;
    lq.spec.start_after = token->after_key;
    if (token->rv > 0) lq.spec.exact_rv = static_cast<uint64_t>(token->rv);
    return lq;
  }
  if (rv_text.empty() || rv_text == "0") return lq;
  auto rv = parseRv(rv_text);
  if (!rv.ok()) return rv.status();
  if (*rv > current) return tooLarge(*rv, current);
  bool exact = match == "Exact" || (match.empty() && lq.spec.limit > 0);
  if (exact) lq.spec.exact_rv = *rv;
  return lq;
}

std::string listMetaJson(uint64_t rv, const std::string& cont, std::optional<size_t> remaining) {
  Json meta = {{"resourceVersion", std::to_string(rv)}};
  if (!cont.empty()) meta["continue"] = cont;
  if (remaining.has_value()) meta["remainingItemCount"] = *remaining;
  return dumpJson(meta);
}

ApiResult doList(const Ctx& c, const Query& q, const OutputFormat& fmt) {
  auto lq = listQuery(c, q);
  if (!lq.ok()) return errorResult(lq.status());
  const k8s::LabelSelector& labels = lq->labels;
  const k8s::FieldSelector& fields = lq->fields;
  if (!labels.empty() || !fields.empty()) {
    lq->spec.predicate = [&labels, &fields](const StoredObject& o) {
      return (labels.empty() || labels.matches(labelsOf(o.json))) &&
             (fields.empty() || matchesFields(fields, o.json));
    };
  }
  auto result = c.store.list(c.type_id, lq->spec);
  if (!result.ok()) {
    if (result.status().code() == absl::StatusCode::kOutOfRange) {
      if (lq->continued) {
        Json body = errorStatusJson(expired(kInconsistentContinue));
        body["metadata"]["continue"] = ContinueToken{-1, lq->spec.start_after}.encode();
        return errorResult(apiError(410, body));
      }
      return errorResult(expired(kExpiredList));
    }
    return errorResult(result.status());
  }
  std::string cont;
  std::optional<size_t> remaining;
  if (result->more) {
    cont = ContinueToken{static_cast<int64_t>(result->rv), result->last_key}.encode();
    if (labels.empty() && fields.empty()) remaining = result->remaining;
  }
  std::string meta = listMetaJson(result->rv, cont, remaining);
  if (fmt.kind == OutputFormat::kTable) {
    auto include = includeObjectParam(q);
    if (!include.ok()) return errorResult(include.status());
    TableOptions opts;
    opts.include = *include;
    opts.meta_version = fmt.meta_version;
    std::vector<const Json*> objs;
    objs.reserve(result->items.size());
    for (const ObjectPtr& o : result->items) objs.push_back(&o->json);
    return jsonResult(200, TablePrinter::table(c.type, objs, Json::parse(meta), opts, nowSeconds()),
                      kTableContentType);
  }
  std::string out;
  size_t total = 64 + meta.size();
  for (const ObjectPtr& o : result->items) total += o->encoded.size() + 1;
  out.reserve(total);
  if (fmt.kind == OutputFormat::kPartial) {
    out = "{\"kind\":\"PartialObjectMetadataList\",\"apiVersion\":\"meta.k8s.io/" +
          fmt.meta_version + "\",\"metadata\":" + meta + ",\"items\":[";
    for (size_t i = 0; i < result->items.size(); ++i) {
      if (i) out.push_back(',');
      out += dumpJson(TablePrinter::partialMetadata(result->items[i]->json, fmt.meta_version));
    }
  } else {
    out = "{\"kind\":\"" + c.type.listKind() + "\",\"apiVersion\":\"" + c.type.apiVersion() +
          "\",\"metadata\":" + meta + ",\"items\":[";
    for (size_t i = 0; i < result->items.size(); ++i) {
      if (i) out.push_back(',');
      result->items[i]->appendItem(&out);
    }
  }
  out += "]}";
  return jsonResult(200, std::move(out));
}

ApiResult objectResult(int status, const ResourceType& t, const StoredObject& o,
                       const OutputFormat& fmt, const Query& q) {
  if (fmt.kind == OutputFormat::kTable) {
    auto include = includeObjectParam(q);
    if (!include.ok()) return errorResult(include.status());
    TableOptions opts;
    opts.include = *include;
    opts.meta_version = fmt.meta_version;
    Json meta = {{"resourceVersion", metaString(o.json, "resourceVersion")}};
    return jsonResult(status, TablePrinter::table(t, {&o.json}, meta, opts, nowSeconds()),
                      kTableContentType);
  }
  if (fmt.kind == OutputFormat::kPartial) {
    return jsonResult(status, dumpJson(TablePrinter::partialMetadata(o.json, fmt.meta_version)));
  }
  return jsonResult(status, o.encoded);
}

ApiResult doWatch(const Ctx& c, const Query& q, const OutputFormat& fmt) {
  auto options = q.listOptions();
  if (!options.ok()) return errorResult(options.status());
  if (auto s = checkFieldLabels(options->fields, c.type); !s.ok()) return errorResult(s);
  WatchOptions w;
  w.type = c.type_id;
  w.ns = c.route->ns;
  w.labels = std::move(options->labels);
  w.fields = std::move(options->fields);
  if (!c.route->name.empty()) {
    // The legacy /watch/.../NAME path watches one object; a field selector may only repeat it.
    if (!w.fields.empty()) {
      auto selected = w.fields.requiresExactMatch("metadata.name");
      if (!selected || *selected != c.route->name) {
        return errorResult(badRequest("fieldSelector metadata.name doesn't match requested name"));
      }
    } else {
      w.fields = k8s::FieldSelector::oneTermEqual("metadata.name", c.route->name);
    }
  }
  if (fmt.kind == OutputFormat::kTable) {
    auto include = includeObjectParam(q);
    if (!include.ok()) return errorResult(include.status());
    w.table = true;
    w.table_options.include = *include;
    w.table_options.meta_version = fmt.meta_version;
  } else if (fmt.kind == OutputFormat::kPartial) {
    w.partial = true;
    w.table_options.meta_version = fmt.meta_version;
  }
  const bool bookmarks = options->allow_watch_bookmarks;
  const std::string& rv_text = options->resource_version;
  const std::optional<bool> send_initial = options->send_initial_events;
  const uint64_t current = c.store.currentRv();
  if (send_initial.value_or(false)) {
    // Validation saw to resourceVersionMatch=NotOlderThan (on a ?watch= request).
    if (!rv_text.empty() && rv_text != "0") {
      auto rv = parseRv(rv_text);
      if (!rv.ok()) return errorResult(rv.status());
      if (*rv > current) return errorResult(tooLarge(*rv, current));
    }
    w.initial_state = true;
    w.initial_events_end_bookmark = bookmarks;
  } else if (rv_text.empty() || rv_text == "0") {
    w.initial_state = !send_initial.has_value();  // sendInitialEvents=false: only new events
    w.from_rv = current;
  } else {
    auto rv = parseRv(rv_text);
    if (!rv.ok()) return errorResult(rv.status());
    if (*rv > current) return errorResult(tooLarge(*rv, current));
    w.initial_state = false;
    w.from_rv = *rv;
  }
  std::chrono::milliseconds timeout(1800 * 1000);
  if (options->timeout_seconds.has_value()) {
    // A negative timeout ends the watch at once, as the server's expired context does.
    int64_t secs = *options->timeout_seconds;
    if (secs != 0) timeout = std::chrono::milliseconds(std::max<int64_t>(secs, 0) * 1000);
  }
  ApiResult r;
  r.response.status = 200;
  r.response.content_type = w.table ? kTableContentType : kJson;
  r.watch = WatchPlan{std::make_shared<WatchSession>(c.store, std::move(w)), timeout, bookmarks};
  return r;
}

// The container a log or exec request means, with the real server's errors.
absl::StatusOr<std::string> pickContainer(const Json& pod, const std::string& requested) {
  std::vector<std::string> names;
  const std::string pod_name = metaString(pod, "name");
  for (const char* field : {"initContainers", "containers", "ephemeralContainers"}) {
    auto spec = pod.find("spec");
    if (spec == pod.end() || !spec->contains(field) || !(*spec)[field].is_array()) continue;
    for (const Json& c : (*spec)[field]) names.push_back(c.value("name", std::string()));
  }
  if (!requested.empty()) {
    if (std::find(names.begin(), names.end(), requested) == names.end()) {
      return badRequest("container " + requested + " is not valid for pod " + pod_name);
    }
    return requested;
  }
  std::vector<std::string> regular;
  auto spec = pod.find("spec");
  if (spec != pod.end() && spec->contains("containers") && (*spec)["containers"].is_array()) {
    for (const Json& c : (*spec)["containers"]) regular.push_back(c.value("name", std::string()));
  }
  if (regular.size() == 1) return regular[0];
  if (regular.empty()) {
    return badRequest("a container name must be specified for pod " + pod_name);
  }
  std::string list;
  for (size_t i = 0; i < names.size(); ++i) list += (i ? " " : "") + names[i];
  return badRequest("a container name must be specified for pod " + pod_name +
                    ", choose one of: [" + list + "]");
}

ApiResult doLogs(const Ctx& c, const Query& q) {
  auto pod = c.store.get(c.type_id, c.route->ns, c.route->name);
  if (!pod.ok()) return errorResult(pod.status());
  const Json& pj = (*pod)->json;
  auto container = pickContainer(pj, q.value("container"));
  if (!container.ok()) return errorResult(container.status());
  if (q.flag("previous")) {
    return errorResult(badRequest("previous terminated container \"" + *container + "\" in pod \"" +
                                  c.route->name + "\" not found"));
  }
  LogPlan plan;
  plan.request.container = *container;
  plan.request.follow = q.flag("follow");
  plan.request.timestamps = q.flag("timestamps");
  for (auto [name, target] : {std::pair{"tailLines", &plan.request.tail_lines},
                              std::pair{"limitBytes", &plan.request.limit_bytes}}) {
    std::string v = q.value(name);
    if (v.empty()) continue;
    int64_t n = 0;
    if (!absl::SimpleAtoi(v, &n) || n < 0) {
      return errorResult(badRequest(std::string(name) + ": Invalid value: \"" + v +
                                    "\": must be greater than or equal to 0"));
    }
    *target = n;
  }
  auto meta = pj.find("metadata");
  if (meta != pj.end() && meta->contains("annotations") && (*meta)["annotations"].is_object()) {
    const Json& ann = (*meta)["annotations"];
    auto it = ann.find(PodLogs::kLogBytesAnnotation);
    if (it != ann.end() && it->is_string()) {
      uint64_t n = 0;
      if (absl::SimpleAtoi(it->get<std::string>(), &n)) plan.request.log_bytes = n;
    }
  }
  ApiResult r;
  r.response.status = 200;
  r.response.content_type = "text/plain";
  r.response.api_object = false;
  r.logs = plan;
  return r;
}

/// Exec, or attach (`attach`): the container's main process is emulated as `cat` when stdin
/// is attached (what is typed comes back) and as a process that has nothing to say otherwise.
ApiResult doExec(const Ctx& c, const Query& q, const HttpRequest& req, bool attach) {
  auto pod = c.store.get(c.type_id, c.route->ns, c.route->name);
  if (!pod.ok()) return errorResult(pod.status());
  const Json& pj = (*pod)->json;
  auto container = pickContainer(pj, q.value("container"));
  if (!container.ok()) return errorResult(container.status());
  ExecPlan plan;
  plan.request.pod = c.route->name;
  plan.request.container = *container;
  plan.request.command = q.all("command");
  plan.request.use_stdin = q.flag("stdin");
  plan.request.use_stdout = q.flag("stdout");
  plan.request.use_stderr = q.flag("stderr");
  plan.request.tty = q.flag("tty");
  if (attach) {
    plan.request.command = {plan.request.use_stdin ? "cat" : "true"};
  } else if (c.files != nullptr) {
    plan.request.files = c.files->open(pj, *container);
  }
  if (plan.request.command.empty()) {
    return errorResult(badRequest("you must specify at least 1 command"));
  }
  // The kubelet drops stderr on a terminal rather than refuse: a terminal has one output.
  if (plan.request.tty) plan.request.use_stderr = false;
  if (!plan.request.use_stdin && !plan.request.use_stdout && !plan.request.use_stderr) {
    return errorResult(badRequest("you must specify at least 1 of stdin, stdout, stderr"));
  }
  auto spec = pj.find("spec");
  if (spec != pj.end() && spec->contains("containers")) {
    for (const Json& ct : (*spec)["containers"]) {
      if (ct.value("name", std::string()) != *container || !ct.contains("env")) continue;
      for (const Json& e : ct["env"]) {
        plan.request.env.push_back(e.value("name", std::string()) + "=" +
                                   e.value("value", std::string()));
      }
    }
  }
  std::string upgrade = header(req.headers, "Upgrade").value_or("");
  if (iequals(upgrade, "SPDY/3.1")) {
    // kubectl before 1.30 (and its fallback): streams over SPDY, the newest channel protocol
    // the client offers in X-Stream-Protocol-Version.
    std::vector<std::string> offered = headerValues(req.headers, "X-Stream-Protocol-Version");
    if (std::find(offered.begin(), offered.end(), "v4.channel.k8s.io") != offered.end()) {
      plan.protocol = "v4.channel.k8s.io";
    }
    if (plan.protocol.empty()) return errorResult(noProtocol(offered, {"v4.channel.k8s.io"}));
    plan.spdy = true;
    ApiResult r;
    r.response.status = 101;
    r.exec = plan;
    return r;
  }
  if (!iequals(upgrade, "websocket")) {
    return errorResult(badRequest("Upgrade request required"));
  }
  std::string offered = header(req.headers, "Sec-WebSocket-Protocol").value_or("");
  for (const char* proto : {"v5.channel.k8s.io", "v4.channel.k8s.io"}) {
    if (offered.find(proto) != std::string::npos) {
      plan.protocol = proto;
      break;
    }
  }
  if (plan.protocol.empty()) {
    return errorResult(badRequest("websocket subprotocols offered (" + offered +
                                  ") include none of v5.channel.k8s.io, v4.channel.k8s.io"));
  }
  ApiResult r;
  r.response.status = 101;
  r.exec = plan;
  return r;
}

ApiResult doPortForward(const Ctx& c, const Query& q, const HttpRequest& req) {
  auto pod = c.store.get(c.type_id, c.route->ns, c.route->name);
  if (!pod.ok()) return errorResult(pod.status());
  const Json& pj = (*pod)->json;
  PortForwardPlan plan;
  plan.ns = c.route->ns;
  plan.pod = c.route->name;
  plan.uid = metaString(pj, "uid");
  plan.ports = declaredPorts(pj);
  std::string upgrade = header(req.headers, "Upgrade").value_or("");
  if (iequals(upgrade, "websocket")) {
    // kubectl >= 1.31: SPDY tunnelled through WebSocket, the SPDY protocol prefixed.
    const std::string tunnelled = std::string(kSpdyTunnelPrefix) + kPortForwardProtocol;
    std::vector<std::string> offered = headerValues(req.headers, "Sec-WebSocket-Protocol");
    if (std::find(offered.begin(), offered.end(), tunnelled) != offered.end()) {
      plan.websocket = true;
      plan.protocol = tunnelled;
    } else {
      // Anything else the API server proxies to the kubelet, which speaks its own channel
      // protocol: the ports named in the query, two channels each.
      auto ports = parseChannelPorts(q.all("ports"));
      if (!ports.ok()) return errorResult(badRequest(std::string(ports.status().message())));
      auto protocol = chooseChannelProtocol(offered);
      if (!protocol.ok()) {
        return errorResult(apiError(
            403, "Forbidden",
            "unable to upgrade websocket connection: " + std::string(protocol.status().message())));
      }
      plan.channels = true;
      plan.channel_ports = std::move(*ports);
      plan.protocol = *protocol;
      plan.base64 = plan.protocol == kBase64ChannelProtocol;
    }
  } else if (iequals(upgrade, "SPDY/3.1")) {
    std::vector<std::string> offered = headerValues(req.headers, "X-Stream-Protocol-Version");
    if (std::find(offered.begin(), offered.end(), kPortForwardProtocol) == offered.end()) {
      return errorResult(noProtocol(offered, {kPortForwardProtocol}));
    }
    plan.protocol = kPortForwardProtocol;
  } else {
    return errorResult(badRequest("Upgrade request required"));
  }
  ApiResult r;
  r.response.status = 101;
  r.port_forward = std::move(plan);
  return r;
}

Json scaleFor(const Json& d) {
  const Json& meta = d["metadata"];
  int64_t replicas = d["spec"].value("replicas", int64_t{1});
  Json scale_meta = {{"name", meta.value("name", "")},
                     {"namespace", meta.value("namespace", "")},
                     {"uid", meta.value("uid", "")},
                     {"resourceVersion", meta.value("resourceVersion", "")},
                     {"creationTimestamp", meta.value("creationTimestamp", "")}};
  std::string selector;
  if (d["spec"].contains("selector") && d["spec"]["selector"].contains("matchLabels")) {
    for (auto it = d["spec"]["selector"]["matchLabels"].begin();
         it != d["spec"]["selector"]["matchLabels"].end(); ++it) {
      if (!selector.empty()) selector += ",";
      selector += it.key() + "=" + (it->is_string() ? it->get<std::string>() : "");
    }
  }
  return Json{{"kind", "Scale"},
              {"apiVersion", "autoscaling/v1"},
              {"metadata", scale_meta},
              {"spec", {{"replicas", replicas}}},
              {"status",
               {{"replicas", d.contains("status") ? d["status"].value("replicas", int64_t{0}) : 0},
                {"selector", selector}}}};
}

absl::StatusOr<Json> applyPatch(const ResourceType& t, PatchType pt, const Json& current,
                                const Json& patch) {
  switch (pt) {
    case PatchType::kMerge:
      return applyMergePatch(current, patch);
    case PatchType::kJson:
      return applyJsonPatch(current, patch);
    case PatchType::kStrategic:
      return applyStrategicMergePatch(current, patch);
    case PatchType::kApply:
      return t.custom ? applyMergePatch(current, patch) : applyStrategicMergePatch(current, patch);
  }
  return current;
}

}  // namespace

ApiResult ApiServer::resource(const HttpRequest& req, const UserInfo& user, const Route& r) {
  const ResourceType& t = registry_.type(r.type);
  const Query& q = *r.query;
  const std::string& method = req.method;
  Ctx c{store_, t, r.type, &r, &files_};
  WriteOptions wo;
  wo.dry_run = q.value("dryRun") == "All";
  wo.field_manager =
      managerName(q.value("fieldManager"), header(req.headers, "User-Agent").value_or(""));

  if (t.review_only) {
    if (method != "POST" || !r.name.empty()) {
      return errorResult(methodNotSupported(t.groupResource(), method));
    }
    auto body = parseBody(req.body);
    if (!body.ok()) return errorResult(body.status());
    Json out = {{"kind", t.kind},
                {"apiVersion", t.apiVersion()},
                {"metadata", {{"creationTimestamp", rfc3339Now()}}}};
    if (t.resource == "selfsubjectreviews") {
      out["status"] = {{"userInfo", userInfoJson(user)}};
    } else if (t.resource == "selfsubjectaccessreviews") {
      out["spec"] = body->is_object() && body->contains("spec") ? (*body)["spec"] : Json::object();
      out["status"] = {{"allowed", true}, {"reason", "the kubehub stand-in allows every request"}};
    } else {
      out["spec"] = body->is_object() && body->contains("spec") ? (*body)["spec"] : Json::object();
      out["status"] = {
          {"resourceRules",
           Json::array({Json{{"verbs", {"*"}}, {"apiGroups", {"*"}}, {"resources", {"*"}}}})},
          {"nonResourceRules", Json::array({Json{{"verbs", {"*"}}, {"nonResourceURLs", {"*"}}}})},
          {"incomplete", false}};
    }
    return jsonResult(201, dumpJson(out));
  }

  const bool is_watch = r.watch_path || ((method == "GET") && q.flag("watch"));
  if (!config_.forbid.empty() && user.username == kAgentUser && r.subresource.empty()) {
    const char* verb = method == "GET"      ? (is_watch         ? "watch"
                                               : r.name.empty() ? "list"
                                                                : "get")
                       : method == "POST"   ? "create"
                       : method == "PUT"    ? "update"
                       : method == "PATCH"  ? "patch"
                       : method == "DELETE" ? "delete"
                                            : "";
    const std::string rule = std::string(verb) + ":" + t.resource;
    if (std::find(config_.forbid.begin(), config_.forbid.end(), rule) != config_.forbid.end()) {
      // RBAC's wording, which clients show as is.
      std::string scope =
          r.ns.empty() ? "at the cluster scope" : "in the namespace \"" + r.ns + "\"";
      return errorResult(apiError(403, "Forbidden",
                                  t.resource + " is forbidden: User \"" + kAgentUser +
                                      "\" cannot " + verb + " resource \"" + t.resource +
                                      "\" in API group \"" + t.group + "\" " + scope));
    }
  }
  auto fmt = negotiate(req.headers);
  const bool streaming_sub = r.subresource == "log" || r.subresource == "exec" ||
                             r.subresource == "attach" || r.subresource == "portforward";
  if (!fmt.ok() && !streaming_sub) return errorResult(fmt.status());
  const OutputFormat format = fmt.ok() ? *fmt : OutputFormat{};

  if (r.subresource == "log") {
    if (method != "GET") return errorResult(methodNotSupported(t.groupResource(), method));
    return doLogs(c, q);
  }
  if (r.subresource == "exec" || r.subresource == "attach") {
    if (method != "GET" && method != "POST") {
      return errorResult(methodNotSupported(t.groupResource(), method));
    }
    const bool attach = r.subresource == "attach";
    ApiResult exec = doExec(c, q, req, attach);
    if (exec.exec.has_value()) {
      exec.exec->session = sessions_.hold(attach ? SessionCounts::kAttach : SessionCounts::kExec);
    }
    return exec;
  }
  if (r.subresource == "portforward") {
    if (method != "GET" && method != "POST") {
      return errorResult(methodNotSupported(t.groupResource(), method));
    }
    ApiResult forward = doPortForward(c, q, req);
    if (forward.port_forward.has_value()) {
      forward.port_forward->session = sessions_.hold(SessionCounts::kPortForward);
    }
    return forward;
  }

  if (is_watch) {
    if (method != "GET") return errorResult(methodNotSupported(t.groupResource(), method));
    return doWatch(c, q, format);
  }

  if (r.name.empty()) {
    if (method == "GET" || method == "HEAD") return doList(c, q, format);
    if (method == "POST") {
      auto body = parseBody(req.body);
      if (!body.ok()) return errorResult(body.status());
      if (auto s = checkTypeMeta(t, *body); !s.ok()) return errorResult(s);
      if (auto s = fixNamespace(t, *body, r.ns); !s.ok()) return errorResult(s);
      auto created = store_.create(r.type, std::move(*body), wo);
      if (!created.ok()) return errorResult(created.status());
      return objectResult(201, t, **created, format, q);
    }
    if (method == "DELETE") {
      auto lq = listQuery(c, q);
      if (!lq.ok()) return errorResult(lq.status());
      const k8s::LabelSelector& labels = lq->labels;
      const k8s::FieldSelector& fields = lq->fields;
      lq->spec.predicate = [&labels, &fields](const StoredObject& o) {
        return labels.matches(labelsOf(o.json)) && matchesFields(fields, o.json);
      };
      auto removed = store_.removeCollection(r.type, lq->spec, wo);
      if (!removed.ok()) return errorResult(removed.status());
      std::string out = "{\"kind\":\"" + t.listKind() + "\",\"apiVersion\":\"" + t.apiVersion() +
                        "\",\"metadata\":{\"resourceVersion\":\"" +
                        std::to_string(store_.currentRv()) + "\"},\"items\":[";
      for (size_t i = 0; i < removed->size(); ++i) {
        if (i) out.push_back(',');
        (*removed)[i]->appendItem(&out);
      }
      out += "]}";
      return jsonResult(200, out);
    }
    return errorResult(methodNotSupported(t.groupResource(), method));
  }

  // Scale: a view of the deployment's replicas.
  if (r.subresource == "scale") {
    if (method == "GET") {
      auto d = store_.get(r.type, r.ns, r.name);
      if (!d.ok()) return errorResult(d.status());
      return jsonResult(200, dumpJson(scaleFor((*d)->json)));
    }
    if (method != "PUT" && method != "PATCH") {
      return errorResult(methodNotSupported(t.groupResource(), method));
    }
    auto body = parseBody(req.body);
    if (!body.ok()) return errorResult(body.status());
    std::optional<PatchType> pt;
    if (method == "PATCH") {
      pt = patchTypeFor(header(req.headers, "Content-Type").value_or(""));
      if (!pt.has_value()) {
        return errorResult(apiError(415, "UnsupportedMediaType",
                                    "the body of the request was in an unknown format - accepted "
                                    "media types include: application/json-patch+json, "
                                    "application/merge-patch+json, application/apply-patch+yaml, "
                                    "application/strategic-merge-patch+json"));
      }
    }
    Json patch = *body;
    auto updated = store_.mutate(
        r.type, r.ns, r.name,
        [&](const Json& cur) -> absl::StatusOr<Json> {
          Json scale = scaleFor(cur);
          Json next_scale;
          if (pt.has_value()) {
            auto p = applyPatch(t, *pt, scale, patch);
            if (!p.ok()) return p.status();
            next_scale = std::move(*p);
          } else {
            next_scale = patch;
            std::string want = next_scale.contains("metadata")
                                   ? next_scale["metadata"].value("resourceVersion", "")
                                   : "";
            if (!want.empty() && want != scale["metadata"].value("resourceVersion", "")) {
              return conflict(t.groupResource(), r.name);
            }
          }
          Json next = cur;
          if (next_scale.contains("spec") && next_scale["spec"].contains("replicas")) {
            next["spec"]["replicas"] = next_scale["spec"]["replicas"];
          }
          return next;
        },
        wo);
    if (!updated.ok()) return errorResult(updated.status());
    return jsonResult(200, dumpJson(scaleFor((*updated)->json)));
  }

  wo.status_only = r.subresource == "status";
  if (method == "GET" || method == "HEAD") {
    auto o = store_.get(r.type, r.ns, r.name);
    if (!o.ok()) return errorResult(o.status());
    return objectResult(200, t, **o, format, q);
  }
  if (method == "PUT") {
    auto body = parseBody(req.body);
    if (!body.ok()) return errorResult(body.status());
    if (auto s = checkTypeMeta(t, *body); !s.ok()) return errorResult(s);
    std::string body_name = metaString(*body, "name");
    if (body_name != r.name) {
      return errorResult(badRequest("the name of the object (" + body_name +
                                    ") does not match the name on the URL (" + r.name + ")"));
    }
    if (auto s = fixNamespace(t, *body, r.ns); !s.ok()) return errorResult(s);
    auto updated = store_.update(r.type, r.ns, r.name, std::move(*body), wo);
    if (!updated.ok()) return errorResult(updated.status());
    return objectResult(200, t, **updated, format, q);
  }
  if (method == "PATCH") {
    std::string ct = header(req.headers, "Content-Type").value_or("");
    auto pt = patchTypeFor(ct);
    if (!pt.has_value() || (t.custom && *pt == PatchType::kStrategic)) {
      std::string accepted = t.custom
                                 ? "application/json-patch+json, application/merge-patch+json, "
                                   "application/apply-patch+yaml"
                                 : "application/json-patch+json, application/merge-patch+json, "
                                   "application/apply-patch+yaml, "
                                   "application/strategic-merge-patch+json";
      return errorResult(apiError(415, "UnsupportedMediaType",
                                  "the body of the request was in an unknown format - accepted "
                                  "media types include: " +
                                      accepted));
    }
    auto body = parseBody(req.body);
    if (!body.ok()) return errorResult(body.status());
    Json patch = std::move(*body);
    if (*pt == PatchType::kApply) {
      if (q.value("fieldManager").empty()) {
        return errorResult(apiError(400, "BadRequest",
                                    "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: "
                                    "Required value: is required for apply patch"));
      }
      wo.apply = true;
    }
    if (*pt == PatchType::kApply && !store_.get(r.type, r.ns, r.name).ok()) {
      // Server-side apply of a missing object creates it.
      if (auto s = checkTypeMeta(t, patch); !s.ok()) return errorResult(s);
      if (auto s = fixNamespace(t, patch, r.ns); !s.ok()) return errorResult(s);
      auto created = store_.create(r.type, std::move(patch), wo);
      if (!created.ok()) return errorResult(created.status());
      return objectResult(201, t, **created, format, q);
    }
    const PatchType ptype = *pt;
    auto updated = store_.mutate(
        r.type, r.ns, r.name,
        [&](const Json& cur) -> absl::StatusOr<Json> { return applyPatch(t, ptype, cur, patch); },
        wo);
    if (!updated.ok()) return errorResult(updated.status());
    return objectResult(200, t, **updated, format, q);
  }
  if (method == "DELETE") {
    ObjectStore::DeletePreconditions pre;
    if (!req.body.empty()) {
      Json opts = Json::parse(req.body, nullptr, false);
      if (opts.is_object()) {
        if (opts.contains("preconditions") && opts["preconditions"].is_object()) {
          pre.uid = opts["preconditions"].value("uid", "");
          pre.resource_version = opts["preconditions"].value("resourceVersion", "");
        }
        if (opts.contains("dryRun") && opts["dryRun"].is_array() && !opts["dryRun"].empty()) {
          wo.dry_run = true;
        }
      }
    }
    auto removed = store_.remove(r.type, r.ns, r.name, pre, wo);
    if (!removed.ok()) return errorResult(removed.status());
    if (t.return_deleted_object) return jsonResult(200, (*removed)->encoded);
    Json details = {{"name", r.name}};
    if (!t.group.empty()) details["group"] = t.group;
    details["kind"] = t.resource;
    details["uid"] = metaString((*removed)->json, "uid");
    return jsonResult(200, dumpJson(Json{{"kind", "Status"},
                                         {"apiVersion", "v1"},
                                         {"metadata", Json::object()},
                                         {"status", "Success"},
                                         {"details", details}}));
  }
  return errorResult(methodNotSupported(t.groupResource(), method));
}

}  // namespace kubehub::standin
