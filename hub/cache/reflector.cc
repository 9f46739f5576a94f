#include "hub/cache/reflector.h"

#include <atomic>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>
#include <random>

#include "absl/strings/numbers.h"
#include "common/log/log.h"
#include "common/net/backoff.h"
#include "common/net/server_main.h"
#include "hub/cache/json_stream.h"
#include "hub/cache/object_codec.h"

namespace kubehub::hub::cache {

namespace asio = boost::asio;

namespace {

/// Lists at least this long leave enough parse garbage behind to be worth trimming for.
constexpr size_t kTrimAfterObjects = 1000;

constexpr const char* kTableAccept =
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

struct Fetched {
  int status = 0;
  std::string body;
};

proto::RequestHead getHead(std::string target, const char* accept) {
  proto::RequestHead head;
  head.method = "GET";
  head.target = std::move(target);
  head.headers.emplace_back("Accept", accept);
  head.headers.emplace_back("User-Agent", "kubehub-hub-cache");
  // The cache's own list+watch runs as the agent (no user to impersonate); the flag is what
  // lets the agent refuse every other request that arrives without impersonation.
  head.internal = true;
  return head;
}

/// A whole (bounded) response through the tunnel.
asio::awaitable<absl::StatusOr<Fetched>> fetch(std::shared_ptr<tunnel::Mux> mux,
                                               proto::RequestHead head, size_t max_body) {
  auto opened = mux->openStream(head, true);
  if (!opened.ok()) co_return opened.status();
  auto stream = *opened;
  // Left before the end (cancelled: a probe past its deadline; a failure): the edge stops too.
  struct ResetUnlessRead {
    tunnel::Stream* stream;
    bool read = false;
    ~ResetUnlessRead() {
      if (!read) stream->reset(proto::ResetCode::kCancel, "the cache stopped reading the answer");
    }
  } guard{stream.get()};
  auto rh = co_await stream->responseHead();
  if (!rh.ok()) co_return rh.status();
  Fetched out;
  out.status = rh->status;
  for (;;) {
    auto c = co_await stream->read();
    if (!c.ok()) co_return c.status();
    out.body += c->data;
    stream->consumed(c->data.size());
    if (out.body.size() > max_body) {
      stream->reset(proto::ResetCode::kCancel, "response too large for the cache");
      co_return absl::ResourceExhaustedError("LIST page larger than " + std::to_string(max_body) +
                                             " bytes");
    }
    if (c->end) break;
  }
  guard.read = true;
  co_return out;
}

std::string describe(const TypeInfo& t) {
  return t.group.empty() ? t.resource : t.resource + "." + t.group;
}

/// Does this server put kind/apiVersion on typed list items? (Cached lists answer as the edge
/// does.) One item says; an empty collection leaves it unknown until the first object arrives.
asio::awaitable<absl::Status> learnItemShape(std::shared_ptr<tunnel::Mux> mux,
                                             std::shared_ptr<ResourceStore> store,
                                             size_t max_body) {
  proto::RequestHead head = getHead(collectionPath(store->info()) + "?limit=1", "application/json");
  auto probe = co_await fetch(mux, head, max_body);
  if (!probe.ok()) co_return probe.status();
  if (probe->status != 200) {
    co_return absl::UnavailableError("LIST answered HTTP " + std::to_string(probe->status));
  }
  auto pj = nlohmann::json::parse(probe->body, nullptr, false);
  if (pj.is_object() && pj.contains("items") && pj["items"].is_array() && !pj["items"].empty() &&
      pj["items"][0].is_object()) {
    store->setItemsHaveTypeMeta(pj["items"][0].contains("kind"));
  }
  co_return absl::OkStatus();
}

/// Paged LIST into a fresh snapshot. Fails on anything but a clean, complete list.
asio::awaitable<absl::Status> relist(std::shared_ptr<tunnel::Mux> mux,
                                     std::shared_ptr<ResourceStore> store, ReflectorOptions o) {
  const TypeInfo& t = store->info();
  if (absl::Status s = co_await learnItemShape(mux, store, o.max_body); !s.ok()) co_return s;

  std::vector<ObjectPtr> all;
  std::string columns;
  int age = -1;
  std::string cont;
  uint64_t rv = 0;
  for (;;) {
    std::string target =
        collectionPath(t) + "?limit=" + std::to_string(o.page_size) + "&includeObject=Object";
    if (!cont.empty()) target += "&continue=" + cont;
    proto::RequestHead request_1 = getHead(target, kTableAccept);
    auto page = co_await fetch(mux, request_1, o.max_body);
    if (!page.ok()) co_return page.status();
    if (page->status == 410) {
      // The continue token expired mid-list: start over.
      all.clear();
      cont.clear();
      continue;
    }
    if (page->status != 200) {
      co_return absl::UnavailableError("LIST answered HTTP " + std::to_string(page->status));
    }
    auto parsed = parseEdgeList(page->body, age, &t);
    if (!parsed.ok()) co_return parsed.status();
    if (columns.empty() && !parsed->columns.empty()) {
      columns = parsed->columns;
      age = ageColumn(columns);
    }
    if (rv == 0) rv = parsed->rv;
    for (auto& obj : parsed->objects) all.push_back(std::move(obj));
    if (parsed->continue_token.empty()) break;
    // Continue tokens are URL-safe base64 in practice; escape the few characters that are not.
    cont.clear();
    for (char c : parsed->continue_token) {
      if (c == '+')
        cont += "%2B";
      else if (c == '/')
        cont += "%2F";
      else if (c == '=')
        cont += "%3D";
      else
        cont += c;
    }
  }
  size_t count = all.size();
  store->replace(std::move(all), rv, std::move(columns));
  // Parsing a large list leaves freed memory between the objects kept.
  if (count >= kTrimAfterObjects) net::releaseFreedMemory();
  log::info("cache synced", {{"cluster", mux->name()},
                             {"resource", describe(t)},
                             {"objects", count},
                             {"resource_version", rv}});
  co_return absl::OkStatus();
}

enum class WatchEnd { kExpired, kClosed, kFailed };

asio::awaitable<WatchEnd> watchOnce(std::shared_ptr<tunnel::Mux> mux,
                                    std::shared_ptr<ResourceStore> store, ReflectorOptions o,
                                    std::shared_ptr<std::atomic<bool>> stop) {
  const TypeInfo& t = store->info();
  std::string target = collectionPath(t) +
                       "?watch=1&allowWatchBookmarks=true&includeObject=Object" +
                       "&resourceVersion=" + std::to_string(store->rv()) +
                       "&timeoutSeconds=" + std::to_string(o.watch_timeout.count());
  proto::RequestHead head = getHead(target, kTableAccept);
  auto opened = mux->openStream(head, true);
  if (!opened.ok()) co_return WatchEnd::kFailed;
  auto stream = *opened;
  auto rh = co_await stream->responseHead();
  if (!rh.ok()) co_return WatchEnd::kFailed;
  if (rh->status == 410) co_return WatchEnd::kExpired;
  if (rh->status != 200) {
    log::warn("cache watch refused",
              {{"cluster", mux->name()}, {"resource", describe(t)}, {"status", rh->status}});
    stream->reset(proto::ResetCode::kCancel, "unexpected status");
    co_return WatchEnd::kFailed;
  }
  JsonStreamSplitter splitter(o.max_body);
  std::vector<std::string> values;
  int age = ageColumn(store->columns());
  for (;;) {
    if (stop->load()) {
      stream->reset(proto::ResetCode::kCancel, "cache stopped");
      co_return WatchEnd::kFailed;
    }
    auto c = co_await stream->read();
    if (!c.ok()) co_return WatchEnd::kFailed;
    values.clear();
    absl::Status split = splitter.feed(c->data, &values);
    stream->consumed(c->data.size());
    if (!split.ok()) {
      log::warn("cache watch stream unreadable",
                {{"cluster", mux->name()}, {"resource", describe(t)}, {"error", split.message()}});
      stream->reset(proto::ResetCode::kCancel, "unreadable watch stream");
      co_return WatchEnd::kFailed;
    }
    for (const auto& v : values) {
      auto e = parseEdgeEvent(v, age, &t);
      if (!e.ok()) {
        log::warn(
            "cache watch event unreadable",
            {{"cluster", mux->name()}, {"resource", describe(t)}, {"error", e.status().message()}});
        stream->reset(proto::ResetCode::kCancel, "unreadable watch event");
        co_return WatchEnd::kFailed;
      }
      switch (e->kind) {
        case EdgeEvent::Kind::kError:
          stream->reset(proto::ResetCode::kCancel, "watch error");
          co_return e->code == 410 ? WatchEnd::kExpired : WatchEnd::kFailed;
        case EdgeEvent::Kind::kBookmark:
          store->bookmark(e->rv);
          break;
        case EdgeEvent::Kind::kObject:
          if (!store->itemsTypeMetaKnown() && e->type != EventType::kDeleted) {
            // The type was empty when listed: ask once now that it has an object.
            absl::Status learned = co_await learnItemShape(mux, store, o.max_body);
            if (!learned.ok()) {
              log::warn("cache could not learn the list item shape",
                        {{"cluster", mux->name()},
                         {"resource", describe(t)},
                         {"error", learned.message()}});
            }
          }
          store->apply(e->type, std::move(e->object));
          break;
      }
    }
    if (c->end) co_return WatchEnd::kClosed;
  }
}

}  // namespace

std::string probePath(const TypeInfo& t) {
  if (!t.namespaced) return collectionPath(t) + "?limit=1";
  // resourceVersions are one sequence for the whole edge (etcd's revision), and a consistent
  // LIST answers the current one whatever it selects. Listing one namespace reads only its key
  // range; counting the rest of a whole collection (what `limit=1` across all namespaces makes
  // the server do for remainingItemCount) grows with it. A namespace no one uses is an empty
  // range on every edge (listing in a namespace that does not exist is allowed and empty).
  std::string prefix = t.group.empty() ? "/api/" + t.version : "/apis/" + t.group + "/" + t.version;
  return prefix + "/namespaces/" + std::string(kProbeNamespace) + "/" + t.resource + "?limit=1";
}

std::string collectionPath(const TypeInfo& t) {
  if (t.group.empty()) return "/api/" + t.version + "/" + t.resource;
  return "/apis/" + t.group + "/" + t.version + "/" + t.resource;
}

asio::awaitable<void> runReflector(std::shared_ptr<tunnel::Mux> mux,
                                   std::shared_ptr<ResourceStore> store, ReflectorOptions o,
                                   std::shared_ptr<std::atomic<bool>> stop) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  std::mt19937_64 rng(std::random_device{}());
  net::Backoff backoff(std::chrono::milliseconds(200), std::chrono::seconds(30));
  bool need_list = !store->synced();
  // Not live once this ends, however it ends (its tunnel cancels it on closing).
  struct NotLiveAfter {
    ResourceStore* store;
    ~NotLiveAfter() { store->setLive(false); }
  } not_live_after{store.get()};
  while (!stop->load() && !mux->closed()) {
    if (need_list) {
      absl::Status s = co_await relist(mux, store, o);
      if (!s.ok()) {
        if (mux->closed() || stop->load()) break;
        auto delay = backoff.next(rng);
        log::warn("cache list failed, will retry", {{"cluster", mux->name()},
                                                    {"resource", describe(store->info())},
                                                    {"error", s.message()},
                                                    {"retry_in_ms", delay.count()}});
        timer.expires_after(delay);
        boost::system::error_code ec;
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      need_list = false;
      backoff.reset();
    }
    store->setLive(true);
    WatchEnd end = co_await watchOnce(mux, store, o, stop);
    if (end == WatchEnd::kExpired) {
      log::info("cache watch expired (410), relisting", {{"cluster", mux->name()},
                                                         {"resource", describe(store->info())},
                                                         {"resource_version", store->rv()}});
      need_list = true;
    } else if (end == WatchEnd::kFailed && !mux->closed() && !stop->load()) {
      auto delay = backoff.next(rng);
      timer.expires_after(delay);
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    } else {
      backoff.reset();
    }
  }
}

asio::awaitable<absl::StatusOr<uint64_t>> probeEdgeRv(std::shared_ptr<tunnel::Mux> mux,
                                                      TypeInfo type) {
  proto::RequestHead request_2 = getHead(probePath(type), "application/json");
  auto r = co_await fetch(mux, request_2, 64 << 20);
  if (!r.ok()) co_return r.status();
  if (r->status != 200)
    co_return absl::UnavailableError("probe answered HTTP " + std::to_string(r->status));
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  uint64_t rv = 0;
  if (!j.is_object() || !j.contains("metadata") || !j["metadata"].contains("resourceVersion") ||
      !j["metadata"]["resourceVersion"].is_string() ||
      !absl::SimpleAtoi(j["metadata"]["resourceVersion"].get<std::string>(), &rv)) {
    co_return absl::UnavailableError("probe answer without a numeric resourceVersion");
  }
  co_return rv;
}

}  // namespace kubehub::hub::cache
