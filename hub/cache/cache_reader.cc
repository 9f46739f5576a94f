#include "hub/cache/cache_reader.h"

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "common/k8s/api_error.h"
#include "common/k8s/list_options.h"
#include "common/k8s/query.h"
#include "common/k8s/status_body.h"

namespace kubehub::hub::cache {

namespace {

constexpr std::string_view kKnownParams[] = {
    "labelSelector",
    "fieldSelector",
    "limit",
    "continue",
    "resourceVersion",
    "resourceVersionMatch",
    "watch",
    "allowWatchBookmarks",
    "timeoutSeconds",
    "sendInitialEvents",
    "includeObject",
    "timeout"};  // the client's own deadline for the call: nothing to change in the answer

bool allParamsKnown(const k8s::QueryValues& query, std::string* unknown) {
  for (const auto& [key, value] : query.pairs()) {
    bool known = false;
    for (auto k : kKnownParams) known = known || key == k;
    if (!known) {
      *unknown = key;
      return false;
    }
  }
  return true;
}

/// Picks JSON or Table from an Accept header the way the API server negotiates: the first
/// acceptable media type wins. Returns false when none is one the cache can produce.
bool negotiate(std::string_view accept, bool* table) {
  if (accept.empty()) {
    *table = false;
    return true;
  }
  size_t pos = 0;
  while (pos <= accept.size()) {
    size_t end = accept.find(',', pos);
    if (end == std::string_view::npos) end = accept.size();
    std::string_view item = accept.substr(pos, end - pos);
    pos = end + 1;
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    std::string_view type = item.substr(0, item.find(';'));
    while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
    bool json = type == "application/json" || type == "*/*" || type == "application/*";
    if (!json) continue;  // protobuf, yaml...: maybe a later item is JSON
    bool as_table = item.find("as=Table") != std::string_view::npos;
    bool as_other = !as_table && item.find("as=") != std::string_view::npos;
    if (as_other) continue;  // PartialObjectMetadata(List): let the edge do it
    if (as_table && (item.find("g=meta.k8s.io") == std::string_view::npos ||
                     item.find("v=v1") == std::string_view::npos ||
                     item.find("v=v1beta1") != std::string_view::npos)) {
      continue;
    }
    *table = as_table;
    return true;
  }
  return false;
}

CacheDecision forward(std::string why) {
  CacheDecision d;
  d.why_not = std::move(why);
  return d;
}

/// The API server's own refusal, answered by the cache at once.
CacheDecision refuse(std::shared_ptr<ResourceStore> store, const absl::Status& status) {
  CacheDecision d;
  d.store = std::move(store);
  auto body = k8s::apiErrorBody(status);
  d.reject_code = body ? body->code : k8s::httpCodeFor(status);
  d.reject_body =
      body ? body->body : k8s::statusBody(*d.reject_code, std::string(status.message()));
  return d;
}

}  // namespace

CacheDecision decideCachedRead(const ClusterCache& cluster, const k8s::RequestInfo& info,
                               std::string_view method, std::string_view query,
                               std::string_view accept) {
  if (method != "GET") return forward("not a GET");
  if (!info.is_resource_request) return forward("not a resource request");
  if (info.verb != "get" && info.verb != "list" && info.verb != "watch") return forward("verb");
  if (!info.subresource.empty()) return forward("subresource");
  auto store = cluster.store(info.api_group, info.api_version, info.resource);
  if (!store) return forward("type not cached or not synced");
  const TypeInfo& t = store->info();
  if (!t.namespaced && !info.namespace_.empty() && info.resource != "namespaces") {
    return forward("namespace on a cluster-scoped type");
  }
  const k8s::QueryValues values(query);
  std::string unknown;
  if (!allParamsKnown(values, &unknown)) return forward("parameter " + unknown);

  CacheDecision d;
  bool table = false;
  if (!negotiate(accept, &table)) return forward("media type");
  if (table && store->columns().empty()) return forward("the edge gave no Table for this type");
  d.encoding.table = table;
  d.encoding.items_have_type_meta = store->itemsHaveTypeMeta();
  if (!table && info.verb == "list" && !store->itemsTypeMetaKnown() && store->objectCount() > 0) {
    return forward("list item shape not learned yet");
  }
  if (auto inc = values.first("includeObject")) {
    if (*inc != "None" && *inc != "Metadata" && *inc != "Object") return forward("includeObject");
    if (!inc->empty()) d.encoding.include_object = *inc;
  }
  if (t.namespaced && info.resource != "namespaces") d.filter.ns = info.namespace_;

  if (info.verb == "get") {
    // A GET reads only resourceVersion (metav1.GetOptions): selectors and the rest are
    // ignored, as the API server ignores them.
    std::string rv = values.first("resourceVersion").value_or("");
    uint64_t rv_num = 0;
    if (rv.empty()) {
      // The edge's current resourceVersion costs a round trip through the tunnel, and the GET
      // itself costs one: forwarding is never slower (a real server reads one key for it).
      return forward("consistent GET of one object");
    }
    if (rv != "0" && !absl::SimpleAtoi(rv, &rv_num)) return forward("resourceVersion");
    d.consistency = rv == "0" ? Consistency::kAny : Consistency::kAtLeast;
    d.min_rv = rv_num;
    d.name = info.name;
    d.store = store;
    return d;
  }

  // LIST and WATCH: the options are decoded and validated as the API server does; what it
  // refuses, the cache refuses with the same code and words.
  auto parsed = k8s::parseListOptions(values);
  if (!parsed.ok()) return refuse(store, parsed.status());
  k8s::ListOptions& o = *parsed;
  const bool watch = info.verb == "watch";
  if (o.watch && !watch) return forward("watch parameter");
  for (const auto& term : o.fields.terms()) {
    // Which other fields a type supports (and the error for the rest) is the edge's to say.
    bool ours = term.field == "metadata.name" || (term.field == "metadata.namespace" &&
                                                  t.namespaced && info.resource != "namespaces");
    if (!ours) return forward("field selector on " + term.field);
  }
  if (watch && !info.name.empty()) {
    // A watch of one object is a watch of the collection with a name selector.
    if (!o.fields.empty()) {
      auto selected = o.fields.requiresExactMatch("metadata.name");
      if (!selected || *selected != info.name) {
        return refuse(store,
                      k8s::badRequest("fieldSelector metadata.name doesn't match requested name"));
      }
    } else {
      o.fields = k8s::FieldSelector::oneTermEqual("metadata.name", info.name);
    }
  }
  d.filter.labels = std::move(o.labels);
  d.filter.fields = std::move(o.fields);
  if (o.limit > 0) d.limit = static_cast<size_t>(o.limit);  // <= 0: no limit, as the server
  const std::string& rv = o.resource_version;
  const std::string& match = o.resource_version_match;
  if (!o.continue_token.empty()) {
    if (!isCacheContinueToken(o.continue_token)) return forward("a continue token of the edge");
    if (!rv.empty() && rv != "0") {
      return refuse(
          store, k8s::badRequest("specifying resource version is not allowed when using continue"));
    }
    d.continue_token = o.continue_token;
  }
  uint64_t rv_num = 0;
  if (!rv.empty() && rv != "0" && !absl::SimpleAtoi(rv, &rv_num)) return forward("resourceVersion");
  if (match == "Exact") return forward("resourceVersionMatch=Exact");

  if (watch) {
    if (!o.watch && (!match.empty() || o.send_initial_events.has_value())) {
      return forward("a /watch/ path with list options");
    }
    d.watch = true;
    d.bookmarks = o.allow_watch_bookmarks;
    d.send_initial_events = o.send_initial_events.value_or(false);
    if (d.send_initial_events && !d.bookmarks)
      return forward("sendInitialEvents without bookmarks");
    if (o.timeout_seconds) {
      if (*o.timeout_seconds < 0) return forward("negative timeoutSeconds");
      if (*o.timeout_seconds > 0) d.timeout = std::chrono::seconds(*o.timeout_seconds);
    }
    if (d.send_initial_events) {
      d.consistency = rv.empty()  ? Consistency::kConsistent
                      : rv == "0" ? Consistency::kAny
                                  : Consistency::kAtLeast;
      d.min_rv = rv_num;
    } else if (rv.empty()) {
      d.consistency = Consistency::kConsistent;
    } else if (rv == "0") {
      d.consistency = Consistency::kAny;
    } else {
      d.watch_from = rv_num;  // resume from the window (or 410)
    }
    d.store = store;
    return d;
  }
  if (!d.continue_token.empty()) {
    d.consistency = Consistency::kAny;  // the snapshot decides
  } else if (rv.empty()) {
    d.consistency = Consistency::kConsistent;
  } else if (rv == "0") {
    d.consistency = Consistency::kAny;
  } else {
    d.consistency = Consistency::kAtLeast;
    d.min_rv = rv_num;
  }
  d.store = store;
  return d;
}

std::string contentType(const CacheDecision& d) {
  return d.encoding.table ? "application/json;as=Table;v=v1;g=meta.k8s.io" : "application/json";
}

std::string notFoundBody(const TypeInfo& t, std::string_view name) {
  std::string qualified = t.group.empty() ? t.resource : t.resource + "." + t.group;
  nlohmann::json details = {{"name", std::string(name)}, {"kind", t.resource}};
  if (!t.group.empty()) details["group"] = t.group;
  nlohmann::ordered_json j = {{"kind", "Status"},
                              {"apiVersion", "v1"},
                              {"metadata", nlohmann::json::object()},
                              {"status", "Failure"},
                              {"message", qualified + " \"" + std::string(name) + "\" not found"},
                              {"reason", "NotFound"},
                              {"details", details},
                              {"code", 404}};
  return j.dump();
}

CacheAnswer answerFromCache(const CacheDecision& d, int64_t now_unix) {
  CacheAnswer a;
  Encoding enc = d.encoding;
  enc.now_unix = now_unix;
  if (d.reject_code) {
    a.status = *d.reject_code;
    a.content_type = "application/json";
    a.body = d.reject_body;
    return a;
  }
  const TypeInfo& t = d.store->info();
  std::string columns = enc.table ? d.store->columns() : std::string();
  a.content_type = contentType(d);
  if (!d.name.empty()) {
    std::string ns = t.namespaced && t.resource != "namespaces" ? d.filter.ns : std::string();
    auto o = d.store->get(ns, d.name, nullptr);
    if (!o) {
      a.status = 404;
      a.content_type = "application/json";
      a.body = notFoundBody(t, d.name);
      return a;
    }
    a.body = encodeObject(t, *o, enc, columns);
    return a;
  }
  auto page = d.store->list(d.filter, d.limit, d.continue_token);
  if (!page.ok()) {
    int code = absl::IsOutOfRange(page.status()) ? 410 : 400;
    a.status = code;
    a.content_type = "application/json";
    a.body = k8s::statusBody(code, std::string(page.status().message()),
                             code == 410 ? "Expired" : "BadRequest");
    return a;
  }
  if (page->items.size() > kStreamListItems) {
    a.page = std::make_shared<ListPage>(std::move(*page));
    a.encoding = enc;
    a.columns = std::move(columns);
    return a;
  }
  a.body = encodeList(t, *page, enc, columns);
  return a;
}

}  // namespace kubehub::hub::cache
