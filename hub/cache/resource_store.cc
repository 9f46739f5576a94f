#include "hub/cache/resource_store.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"

namespace kubehub::hub::cache {

namespace {

constexpr size_t kMaxSnapshots = 32;
constexpr auto kSnapshotTtl = std::chrono::minutes(5);
constexpr std::string_view kTokenPrefix = "kh1.";

std::string makeToken(uint64_t id, size_t offset) {
  return std::string(kTokenPrefix) +
         absl::WebSafeBase64Escape(std::to_string(id) + ":" + std::to_string(offset));
}

bool parseToken(std::string_view token, uint64_t* id, size_t* offset) {
  if (!token.starts_with(kTokenPrefix)) return false;
  std::string raw;
  token.remove_prefix(kTokenPrefix.size());
  if (!absl::WebSafeBase64Unescape(absl::string_view(token.data(), token.size()), &raw))
    return false;
  size_t colon = raw.find(':');
  if (colon == std::string::npos) return false;
  return absl::SimpleAtoi(absl::string_view(raw).substr(0, colon), id) &&
         absl::SimpleAtoi(absl::string_view(raw).substr(colon + 1), offset);
}

}  // namespace

bool isCacheContinueToken(std::string_view token) {
  uint64_t id = 0;
  size_t offset = 0;
  return parseToken(token, &id, &offset);
}

size_t CachedObject::bytes() const {
  size_t n = sizeof(CachedObject) + ns.capacity() + name.capacity() + json.capacity() +
             cells.capacity() * sizeof(std::string);
  for (const auto& c : cells) n += c.capacity();
  for (const auto& [k, v] : labels) n += 2 * sizeof(std::string) + k.capacity() + v.capacity();
  return n;
}

void CachedObject::appendItem(std::string* out) const {
  out->push_back('{');
  for (uint8_t i = 0; i < item_run_count; ++i) {
    if (i > 0) out->push_back(',');
    out->append(json, item_runs[i].offset, item_runs[i].length);
  }
  out->push_back('}');
}

std::string_view eventTypeName(EventType t) {
  switch (t) {
    case EventType::kAdded:
      return "ADDED";
    case EventType::kModified:
      return "MODIFIED";
    case EventType::kDeleted:
      return "DELETED";
  }
  return "MODIFIED";
}

bool Filter::matches(const CachedObject& o) const {
  if (!ns.empty() && o.ns != ns) return false;
  if (!allowed_namespaces.empty() && std::find(allowed_namespaces.begin(), allowed_namespaces.end(),
                                               o.ns) == allowed_namespaces.end()) {
    return false;
  }
  if (!labels.empty() && !labels.matches(o.labels)) return false;
  if (!fields.empty() && !fields.matches([&o](std::string_view field) {
        return field == "metadata.name"        ? std::string_view(o.name)
               : field == "metadata.namespace" ? std::string_view(o.ns)
                                               : std::string_view();
      })) {
    return false;
  }
  return true;
}

std::vector<Event> WatchQueue::take(bool* closed, std::string* reason) {
  std::lock_guard lock(mu_);
  std::vector<Event> out(std::make_move_iterator(pending_.begin()),
                         std::make_move_iterator(pending_.end()));
  pending_.clear();
  *closed = closed_;
  if (closed_ && reason) *reason = reason_;
  return out;
}

uint64_t WatchQueue::storeRv() const {
  std::lock_guard lock(mu_);
  return store_rv_;
}

void WatchQueue::push(const Event& e) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    if (pending_.size() >= capacity_) {
      closed_ = true;
      reason_ = "the watcher fell too far behind";
      pending_.clear();
    } else {
      pending_.push_back(e);
    }
  }
  notify_();
}

void WatchQueue::close(std::string reason) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    reason_ = std::move(reason);
  }
  notify_();
}

ResourceStore::ResourceStore(TypeInfo info, WindowLimits window)
    : info_(std::move(info)),
      window_limits_{std::max<size_t>(window.max_events, 1), window.max_bytes} {}

std::string ResourceStore::key(std::string_view ns, std::string_view name) {
  if (ns.empty()) return std::string(name);
  std::string k;
  k.reserve(ns.size() + name.size() + 1);
  k.append(ns).push_back('/');
  k.append(name);
  return k;
}

void ResourceStore::replace(std::vector<ObjectPtr> objects, uint64_t rv, std::string columns) {
  lists_.fetch_add(1);
  // A full list is as new as the edge, so as every write acknowledged before it; one older
  // than a noted write means the edge's versions went back (a restored etcd): the note would
  // hold every read waiting for a version that will not come.
  if (written_rv_.load() > rv) written_rv_.store(rv);
  std::vector<std::shared_ptr<WatchQueue>> closing;
  {
    std::unique_lock lock(mu_);
    std::map<std::string, ObjectPtr, std::less<>> fresh;
    size_t bytes = 0;
    for (auto& o : objects) {
      bytes += o->bytes();
      fresh[key(o->ns, o->name)] = std::move(o);
    }
    objects_.swap(fresh);
    bytes_ = bytes;
    rv_ = rv;
    window_.clear();
    window_refs_.clear();
    window_bytes_ = 0;
    window_floor_rv_ = rv;
    columns_ = std::move(columns);
    synced_ = true;
    live_ = true;
    closing.swap(watchers_);
    snapshots_.clear();
    fireRvWaitersLocked();
  }
  for (auto& w : closing) w->close("the hub re-listed the resource from the edge");
}

void ResourceStore::apply(EventType type, ObjectPtr object) {
  std::unique_lock lock(mu_);
  std::string k = key(object->ns, object->name);
  auto it = objects_.find(k);
  ObjectPtr prev = it == objects_.end() ? nullptr : it->second;
  if (prev) bytes_ -= prev->bytes();
  const bool deleted = type == EventType::kDeleted;
  if (deleted) {
    if (it != objects_.end()) objects_.erase(it);
  } else {
    bytes_ += object->bytes();
    if (it == objects_.end()) {
      objects_.emplace(std::move(k), object);
    } else {
      it->second = object;
    }
  }
  // An object the window refers to is counted as window bytes exactly while the index does not
  // hold it: move the count of whatever just left or entered the index.
  auto moved = [&](const ObjectPtr& o, bool was_indexed, bool indexed) {
    if (!o || was_indexed == indexed || !window_refs_.contains(o.get())) return;
    if (indexed) {
      window_bytes_ -= o->bytes();
    } else {
      window_bytes_ += o->bytes();
    }
  };
  if (prev == object) {
    moved(object, true, !deleted);
  } else {
    moved(prev, true, false);
    moved(object, false, !deleted);
  }
  // Some servers report ADDED for objects already known after a reconnect: normalise.
  if (type == EventType::kAdded && prev) type = EventType::kModified;
  if (type == EventType::kModified && !prev) type = EventType::kAdded;
  Event e{type, object, object->rv, prev};
  rv_ = std::max(rv_, object->rv);
  window_.push_back(e);
  window_bytes_ += kWindowEventOverhead;
  windowRetainLocked(e.object);
  windowRetainLocked(e.prev);
  evictWindowLocked();
  dispatchLocked(e);
  fireRvWaitersLocked();
}

bool ResourceStore::indexedLocked(const ObjectPtr& o) const {
  auto it = objects_.find(key(o->ns, o->name));
  return it != objects_.end() && it->second == o;
}

void ResourceStore::windowRetainLocked(const ObjectPtr& o) {
  if (!o) return;
  if (++window_refs_[o.get()] == 1 && !indexedLocked(o)) window_bytes_ += o->bytes();
}

void ResourceStore::windowReleaseLocked(const ObjectPtr& o) {
  if (!o) return;
  auto it = window_refs_.find(o.get());
  if (it == window_refs_.end()) return;  // not reached: every event's objects were retained
  if (--it->second > 0) return;
  window_refs_.erase(it);
  if (!indexedLocked(o)) window_bytes_ -= o->bytes();
}

void ResourceStore::evictWindowLocked() {
  // The newest event may go too (one version larger than the byte bound): a watch from the
  // current resourceVersion needs no event, and older ones get 410 like the API server's.
  while (!window_.empty() &&
         (window_.size() > window_limits_.max_events || window_bytes_ > window_limits_.max_bytes)) {
    Event& oldest = window_.front();
    window_floor_rv_ = oldest.rv;
    windowReleaseLocked(oldest.object);
    windowReleaseLocked(oldest.prev);
    window_bytes_ -= kWindowEventOverhead;
    window_.pop_front();
  }
}

void ResourceStore::clear(const std::string& reason) {
  std::vector<std::shared_ptr<WatchQueue>> closing;
  std::vector<std::function<void(bool)>> failed;
  {
    std::unique_lock lock(mu_);
    objects_.clear();
    bytes_ = 0;
    window_.clear();
    window_refs_.clear();
    window_bytes_ = 0;
    window_floor_rv_ = rv_;
    synced_ = false;
    live_ = false;
    snapshots_.clear();
    closing.swap(watchers_);
    for (auto& [target, fn] : rv_waiters_) failed.push_back(std::move(fn));
    rv_waiters_.clear();
  }
  for (auto& w : closing) w->close(reason);
  for (auto& fn : failed) fn(false);
}

void ResourceStore::bookmark(uint64_t rv) {
  std::unique_lock lock(mu_);
  if (rv <= rv_) return;
  rv_ = rv;
  for (auto& w : watchers_) {
    {
      std::lock_guard wl(w->mu_);
      w->store_rv_ = rv_;
    }
    w->notify_();
  }
  fireRvWaitersLocked();
}

void ResourceStore::setLive(bool live) {
  std::vector<std::function<void(bool)>> failed;
  {
    std::unique_lock lock(mu_);
    live_ = live;
    if (!live) {
      for (auto& [target, fn] : rv_waiters_) failed.push_back(std::move(fn));
      rv_waiters_.clear();
    }
  }
  for (auto& fn : failed) fn(false);
}

void ResourceStore::dispatchLocked(const Event& e) {
  for (auto& w : watchers_) {
    bool now = w->filter_.matches(*e.object);
    bool before = e.prev && w->filter_.matches(*e.prev);
    {
      std::lock_guard wl(w->mu_);
      w->store_rv_ = rv_;
    }
    if (e.type == EventType::kDeleted) {
      if (before || now) w->push(e);
    } else if (now && before) {
      w->push(Event{EventType::kModified, e.object, e.rv, e.prev});
    } else if (now) {
      w->push(Event{EventType::kAdded, e.object, e.rv, e.prev});
    } else if (before) {
      w->push(Event{EventType::kDeleted, e.object, e.rv, e.prev});
    }
  }
}

void ResourceStore::fireRvWaitersLocked() {
  if (rv_waiters_.empty()) return;
  std::vector<std::function<void(bool)>> ready;
  auto it = std::remove_if(rv_waiters_.begin(), rv_waiters_.end(), [&](auto& w) {
    if (w.first <= rv_) {
      ready.push_back(std::move(w.second));
      return true;
    }
    return false;
  });
  rv_waiters_.erase(it, rv_waiters_.end());
  // Callbacks only wake coroutines (thread-safe signals); safe under the lock.
  for (auto& fn : ready) fn(true);
}

bool ResourceStore::synced() const {
  std::shared_lock lock(mu_);
  return synced_;
}

bool ResourceStore::live() const {
  std::shared_lock lock(mu_);
  return live_;
}

uint64_t ResourceStore::rv() const {
  std::shared_lock lock(mu_);
  return rv_;
}

std::string ResourceStore::columns() const {
  std::shared_lock lock(mu_);
  return columns_;
}

size_t ResourceStore::objectCount() const {
  std::shared_lock lock(mu_);
  return objects_.size();
}

size_t ResourceStore::bytes() const {
  std::shared_lock lock(mu_);
  return bytes_ + window_bytes_;
}

size_t ResourceStore::indexBytes() const {
  std::shared_lock lock(mu_);
  return bytes_;
}

size_t ResourceStore::windowBytes() const {
  std::shared_lock lock(mu_);
  return window_bytes_;
}

size_t ResourceStore::windowEvents() const {
  std::shared_lock lock(mu_);
  return window_.size();
}

ObjectPtr ResourceStore::get(std::string_view ns, std::string_view name, uint64_t* rv) const {
  std::shared_lock lock(mu_);
  if (rv) *rv = rv_;
  auto it = objects_.find(key(ns, name));
  return it == objects_.end() ? nullptr : it->second;
}

void ResourceStore::trimSnapshotsLocked() {
  auto now = std::chrono::steady_clock::now();
  for (auto it = snapshots_.begin(); it != snapshots_.end();) {
    if (now - it->second.created > kSnapshotTtl) {
      it = snapshots_.erase(it);
    } else {
      ++it;
    }
  }
  while (snapshots_.size() > kMaxSnapshots) snapshots_.erase(snapshots_.begin());
}

absl::StatusOr<ListPage> ResourceStore::list(const Filter& filter, size_t limit,
                                             std::string_view continue_token) {
  ListPage page;
  if (!continue_token.empty()) {
    uint64_t id = 0;
    size_t offset = 0;
    if (!parseToken(continue_token, &id, &offset)) {
      return absl::InvalidArgumentError("continue key is not valid");
    }
    std::unique_lock lock(mu_);
    trimSnapshotsLocked();
    auto it = snapshots_.find(id);
    if (it == snapshots_.end()) {
      return absl::OutOfRangeError(
          "The provided continue parameter is too old to display a consistent list result. You "
          "can start a new list without the continue parameter, or use the continue token in "
          "this response to retrieve the remainder of the results. Continuing with the provided "
          "token results in an inconsistent list - objects that were created, modified, or "
          "deleted between the time the first chunk was returned and now may show up in the list.");
    }
    const Snapshot& snap = it->second;
    if (offset > snap.items.size()) return absl::InvalidArgumentError("continue key is not valid");
    // limit comes from the client: offset + limit may not fit in size_t.
    size_t end =
        limit == 0 || limit >= snap.items.size() - offset ? snap.items.size() : offset + limit;
    page.items.assign(snap.items.begin() + static_cast<long>(offset),
                      snap.items.begin() + static_cast<long>(end));
    page.rv = snap.rv;
    if (end < snap.items.size()) {
      page.continue_token = makeToken(id, end);
      page.remaining = snap.items.size() - end;
    } else {
      snapshots_.erase(it);
    }
    return page;
  }
  std::vector<ObjectPtr> all;
  uint64_t rv = 0;
  {
    std::shared_lock lock(mu_);
    rv = rv_;
    auto begin = objects_.begin();
    auto end = objects_.end();
    if (!filter.ns.empty() && info_.namespaced) {
      // Keys are "ns/name": one namespace is a contiguous range.
      std::string prefix = filter.ns + "/";
      begin = objects_.lower_bound(prefix);
      std::string upper = filter.ns + "0";  // '0' follows '/' in ASCII
      end = objects_.lower_bound(upper);
    }
    all.reserve(static_cast<size_t>(std::distance(begin, end)));
    for (auto it = begin; it != end; ++it) {
      if (filter.matches(*it->second)) all.push_back(it->second);
    }
  }
  page.rv = rv;
  if (limit == 0 || all.size() <= limit) {
    page.items = std::move(all);
    return page;
  }
  page.items.assign(all.begin(), all.begin() + static_cast<long>(limit));
  page.remaining = all.size() - limit;
  std::unique_lock lock(mu_);
  trimSnapshotsLocked();
  uint64_t id = next_snapshot_id_++;
  snapshots_.emplace(id, Snapshot{std::move(all), rv, std::chrono::steady_clock::now()});
  page.continue_token = makeToken(id, limit);
  return page;
}

absl::StatusOr<std::shared_ptr<WatchQueue>> ResourceStore::watch(Filter filter,
                                                                 std::optional<uint64_t> from_rv,
                                                                 std::vector<Event>* initial,
                                                                 std::function<void()> notify,
                                                                 size_t queue_capacity) {
  std::unique_lock lock(mu_);
  if (from_rv.has_value()) {
    if (*from_rv < window_floor_rv_) {
      return absl::OutOfRangeError("too old resource version: " + std::to_string(*from_rv) + " (" +
                                   std::to_string(window_floor_rv_) + ")");
    }
    for (const Event& e : window_) {
      if (e.rv <= *from_rv) continue;
      bool now = filter.matches(*e.object);
      bool before = e.prev && filter.matches(*e.prev);
      if (e.type == EventType::kDeleted) {
        if (before || now) initial->push_back(e);
      } else if (now) {
        initial->push_back(
            Event{before ? EventType::kModified : EventType::kAdded, e.object, e.rv, e.prev});
      } else if (before) {
        initial->push_back(Event{EventType::kDeleted, e.object, e.rv, e.prev});
      }
    }
  } else {
    for (const auto& [k, o] : objects_) {
      if (filter.matches(*o)) initial->push_back(Event{EventType::kAdded, o, o->rv, nullptr});
    }
  }
  auto w = std::make_shared<WatchQueue>(std::move(filter), queue_capacity, std::move(notify));
  w->store_rv_ = rv_;
  watchers_.push_back(w);
  return w;
}

void ResourceStore::unwatch(const std::shared_ptr<WatchQueue>& w) {
  std::unique_lock lock(mu_);
  watchers_.erase(std::remove(watchers_.begin(), watchers_.end(), w), watchers_.end());
}

void ResourceStore::whenRv(uint64_t target, std::function<void(bool)> done) {
  bool reached = false;
  {
    std::unique_lock lock(mu_);
    reached = rv_ >= target;
    if (!reached && live_) {
      rv_waiters_.emplace_back(target, std::move(done));
      return;
    }
  }
  done(reached);
}

}  // namespace kubehub::hub::cache
