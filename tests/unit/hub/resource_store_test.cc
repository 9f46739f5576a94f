#include "hub/cache/resource_store.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace kubehub::hub::cache {
namespace {

ObjectPtr obj(std::string ns, std::string name, uint64_t rv, k8s::Labels labels = {}) {
  auto o = std::make_shared<CachedObject>();
  o->ns = std::move(ns);
  o->name = std::move(name);
  o->rv = rv;
  o->json = "{\"metadata\":{\"name\":\"" + o->name + "\"}}";
  o->labels = std::move(labels);
  return o;
}

TypeInfo pods() { return TypeInfo{"", "v1", "pods", "Pod", true}; }

/// A ConfigMap-like object whose JSON is `size` bytes.
ObjectPtr big(std::string name, uint64_t rv, size_t size) {
  auto o = std::make_shared<CachedObject>();
  o->ns = "default";
  o->name = std::move(name);
  o->rv = rv;
  o->json = "{\"metadata\":{\"name\":\"" + o->name + "\"},\"data\":{\"v\":\"";
  o->json.append(size > o->json.size() + 4 ? size - o->json.size() - 4 : 0, 'x');
  o->json += "\"}}";
  return o;
}

size_t alive(const std::vector<std::weak_ptr<const CachedObject>>& versions) {
  return static_cast<size_t>(
      std::count_if(versions.begin(), versions.end(), [](const auto& w) { return !w.expired(); }));
}

std::vector<std::string> names(const std::vector<ObjectPtr>& items) {
  std::vector<std::string> out;
  for (const auto& o : items) out.push_back(o->ns + "/" + o->name);
  return out;
}

TEST(ResourceStore, ReplaceThenListInKeyOrderAndByNamespace) {
  ResourceStore s(pods(), 100);
  EXPECT_FALSE(s.synced());
  s.replace({obj("b", "x", 3), obj("a", "z", 2), obj("a", "y", 1), obj("ab", "q", 4)}, 10, "[]");
  EXPECT_TRUE(s.synced());
  EXPECT_EQ(s.rv(), 10u);
  auto all = s.list({}, 0, "");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(names(all->items), (std::vector<std::string>{"a/y", "a/z", "ab/q", "b/x"}));
  Filter in_a;
  in_a.ns = "a";
  auto a = s.list(in_a, 0, "");
  EXPECT_EQ(names(a->items), (std::vector<std::string>{"a/y", "a/z"}));
}

TEST(ResourceStore, PagingReadsOneSnapshot) {
  ResourceStore s(pods(), 100);
  std::vector<ObjectPtr> objs;
  for (int i = 0; i < 10; ++i) objs.push_back(obj("ns", "p" + std::to_string(i), 1));
  s.replace(objs, 5, "");
  auto p1 = s.list({}, 4, "");
  ASSERT_TRUE(p1.ok());
  EXPECT_EQ(p1->items.size(), 4u);
  EXPECT_EQ(p1->remaining, 6u);
  ASSERT_FALSE(p1->continue_token.empty());
  // A change after the first page does not show up in later pages of the same list.
  s.apply(EventType::kDeleted, obj("ns", "p9", 6));
  auto p2 = s.list({}, 4, p1->continue_token);
  ASSERT_TRUE(p2.ok());
  auto p3 = s.list({}, 4, p2->continue_token);
  ASSERT_TRUE(p3.ok());
  EXPECT_EQ(p3->items.size(), 2u);
  EXPECT_TRUE(p3->continue_token.empty());
  EXPECT_EQ(p3->items.back()->name, "p9");
  EXPECT_EQ(p3->rv, 5u);
  EXPECT_FALSE(s.list({}, 4, "garbage").ok());
  auto gone = s.list({}, 4, p1->continue_token);  // consumed snapshot
  EXPECT_TRUE(absl::IsOutOfRange(gone.status())) << gone.status();
}

TEST(ResourceStore, WatchFromResourceVersionAndTooOld) {
  ResourceStore s(pods(), 3);
  s.replace({obj("a", "x", 1)}, 10, "");
  s.apply(EventType::kAdded, obj("a", "y", 11));
  s.apply(EventType::kModified, obj("a", "x", 12));
  std::vector<Event> initial;
  int notified = 0;
  auto w = s.watch({}, 11, &initial, [&] { ++notified; });
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(initial.size(), 1u);
  EXPECT_EQ(initial[0].type, EventType::kModified);
  EXPECT_EQ(initial[0].rv, 12u);
  s.apply(EventType::kDeleted, obj("a", "y", 13));
  bool closed = false;
  auto ev = (*w)->take(&closed, nullptr);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, EventType::kDeleted);
  EXPECT_GT(notified, 0);
  // Window of 3 events: rv 10 is still servable, then it falls out.
  s.apply(EventType::kAdded, obj("a", "z", 14));
  std::vector<Event> old;
  auto too_old = s.watch({}, 10, &old, [] {});
  ASSERT_FALSE(too_old.ok());
  EXPECT_TRUE(absl::IsOutOfRange(too_old.status()));
  EXPECT_NE(std::string(too_old.status().message()).find("too old resource version"),
            std::string::npos);
}

TEST(ResourceStore, FilteredWatchSeesObjectsLeavingAsDeleted) {
  ResourceStore s(pods(), 100);
  s.replace({obj("a", "x", 1, {{"app", "web"}})}, 1, "");
  Filter f;
  f.labels = *k8s::LabelSelector::parse("app=web");
  std::vector<Event> initial;
  auto w = s.watch(f, std::nullopt, &initial, [] {});
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(initial.size(), 1u);
  EXPECT_EQ(initial[0].type, EventType::kAdded);
  s.apply(EventType::kModified, obj("a", "x", 2, {{"app", "db"}}));
  s.apply(EventType::kModified, obj("a", "x", 3, {{"app", "web"}}));
  bool closed = false;
  auto ev = (*w)->take(&closed, nullptr);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].type, EventType::kDeleted);
  EXPECT_EQ(ev[1].type, EventType::kAdded);
}

TEST(ResourceStore, SlowWatcherIsClosedNotBuffered) {
  ResourceStore s(pods(), 1000);
  s.replace({}, 1, "");
  std::vector<Event> initial;
  auto w = s.watch(
      {}, std::nullopt, &initial, [] {}, 5);
  for (uint64_t i = 0; i < 20; ++i)
    s.apply(EventType::kAdded, obj("a", "p" + std::to_string(i), 2 + i));
  bool closed = false;
  std::string reason;
  auto ev = (*w)->take(&closed, &reason);
  EXPECT_TRUE(closed);
  EXPECT_TRUE(ev.empty());
  EXPECT_NE(reason.find("behind"), std::string::npos);
}

TEST(ResourceStore, RelistClosesWatchesAndReplacesAtomically) {
  ResourceStore s(pods(), 100);
  s.replace({obj("a", "x", 1), obj("a", "y", 1)}, 5, "");
  std::vector<Event> initial;
  auto w = s.watch({}, 5, &initial, [] {});
  s.replace({obj("a", "z", 50)}, 50, "");
  bool closed = false;
  (*w)->take(&closed, nullptr);
  EXPECT_TRUE(closed);
  auto all = s.list({}, 0, "");
  EXPECT_EQ(names(all->items), (std::vector<std::string>{"a/z"}));
  std::vector<Event> again;
  EXPECT_FALSE(s.watch({}, 5, &again, [] {}).ok());  // history before the relist is gone
}

TEST(ResourceStore, WaitForResourceVersion) {
  ResourceStore s(pods(), 100);
  s.replace({}, 5, "");
  int result = -1;
  s.whenRv(5, [&](bool ok) { result = ok; });
  EXPECT_EQ(result, 1);
  result = -1;
  s.whenRv(8, [&](bool ok) { result = ok; });
  EXPECT_EQ(result, -1);
  s.bookmark(7);
  EXPECT_EQ(result, -1);
  s.apply(EventType::kAdded, obj("a", "x", 8));
  EXPECT_EQ(result, 1);
  result = -1;
  s.whenRv(100, [&](bool ok) { result = ok; });
  s.setLive(false);
  EXPECT_EQ(result, 0);
}

// The D5 attack: many updates of one large object. Every old version sits in the window (it is
// the next event's previous state), so without a byte bound 300 updates of 1 MB held 300 MB.
TEST(ResourceStore, WindowOfALargeObjectsUpdatesStaysUnderItsByteBound) {
  constexpr size_t kObject = 1 << 20;
  constexpr size_t kBound = 8 << 20;
  ResourceStore s(pods(), WindowLimits{10000, kBound});
  std::vector<std::weak_ptr<const CachedObject>> versions;  // versions[i] has rv i + 1
  auto v0 = big("cm", 1, kObject);
  versions.push_back(v0);
  s.replace({std::move(v0)}, 1, "");
  for (uint64_t rv = 2; rv <= 301; ++rv) {
    auto v = big("cm", rv, kObject);
    versions.push_back(v);
    s.apply(EventType::kModified, std::move(v));
    ASSERT_LE(s.windowBytes(), kBound) << "after rv " << rv;
    ASSERT_EQ(s.bytes(), s.indexBytes() + s.windowBytes());
  }
  const size_t events = s.windowEvents();
  ASSERT_GT(events, 0u);
  ASSERT_LT(events, 10u);  // 8 MB of 1 MB versions
  // The last `events` events refer to versions[300 - events] .. versions[300]; the last is the
  // index's (one shared buffer, counted once as index bytes), the others the window's alone.
  // Evicted versions are really freed (nothing else holds them).
  EXPECT_EQ(alive(versions), events + 1);
  size_t expected = events * ResourceStore::kWindowEventOverhead;
  for (size_t i = 300 - events; i < 300; ++i) {
    auto v = versions[i].lock();
    ASSERT_TRUE(v) << "version " << i << " should still be in the window";
    expected += v->bytes();
  }
  EXPECT_EQ(s.windowBytes(), expected);
  EXPECT_EQ(s.indexBytes(), versions[300].lock()->bytes());
  EXPECT_GT(s.bytes(), events * kObject);  // the metric tells the truth about the history
  // A watch resuming inside the window replays it; from an evicted version it gets Gone.
  std::vector<Event> replay;
  ASSERT_TRUE(s.watch({}, 301 - events, &replay, [] {}).ok());
  EXPECT_EQ(replay.size(), events);
  std::vector<Event> none;
  auto gone = s.watch({}, 301 - events - 1, &none, [] {});
  ASSERT_FALSE(gone.ok());
  EXPECT_TRUE(absl::IsOutOfRange(gone.status())) << gone.status();
  auto oldest = s.watch({}, 2, &none, [] {});
  EXPECT_TRUE(absl::IsOutOfRange(oldest.status())) << oldest.status();
}

TEST(ResourceStore, DeletedObjectsHistoryIsCountedThenFreedWhenEvicted) {
  constexpr size_t kObject = 256 << 10;
  ResourceStore s(pods(), WindowLimits{4, SIZE_MAX});
  s.replace({}, 1, "");
  std::vector<std::weak_ptr<const CachedObject>> versions;
  for (uint64_t rv = 2; rv <= 4; ++rv) {
    auto v = big("cm", rv, kObject);
    versions.push_back(v);
    s.apply(rv == 2 ? EventType::kAdded : EventType::kModified, std::move(v));
  }
  auto tombstone = big("cm", 5, kObject);  // the DELETED event's final state
  versions.push_back(tombstone);
  s.apply(EventType::kDeleted, std::move(tombstone));
  EXPECT_EQ(s.objectCount(), 0u);
  EXPECT_EQ(s.indexBytes(), 0u);
  // Four events: ADDED v2, MODIFIED v3 (prev v2), MODIFIED v4 (prev v3), DELETED v5 (prev v4).
  size_t four = 0;
  for (const auto& w : versions) four += w.lock()->bytes();
  EXPECT_EQ(s.windowBytes(), four + 4 * ResourceStore::kWindowEventOverhead);
  EXPECT_EQ(s.bytes(), s.windowBytes());
  EXPECT_EQ(alive(versions), 4u);
  // Small events push the deleted object's history out of the window: nothing of it remains.
  for (uint64_t rv = 6; rv <= 9; ++rv)
    s.apply(EventType::kAdded, obj("a", "p" + std::to_string(rv), rv));
  EXPECT_EQ(alive(versions), 0u);
  EXPECT_EQ(s.windowEvents(), 4u);
  // The four small objects are in the index (shared, counted there); the window adds only its
  // own bookkeeping.
  EXPECT_EQ(s.windowBytes(), 4 * ResourceStore::kWindowEventOverhead);
  EXPECT_EQ(s.bytes(), s.indexBytes() + s.windowBytes());
}

TEST(ResourceStore, AVersionLargerThanTheByteBoundLeavesNoHistory) {
  ResourceStore s(pods(), WindowLimits{100, 64 << 10});
  s.replace({big("cm", 1, 1 << 20)}, 1, "");
  s.apply(EventType::kModified, big("cm", 2, 1 << 20));
  EXPECT_EQ(s.windowEvents(), 0u);
  EXPECT_EQ(s.windowBytes(), 0u);
  std::vector<Event> initial;
  EXPECT_TRUE(s.watch({}, 2, &initial, [] {}).ok());  // from now: nothing to replay
  EXPECT_TRUE(initial.empty());
  EXPECT_TRUE(absl::IsOutOfRange(s.watch({}, 1, &initial, [] {}).status()));
}

TEST(ResourceStore, ClearLetsGoOfEverythingAndClosesWatches) {
  ResourceStore s(pods(), 100);
  auto v1 = big("cm", 1, 1 << 16);
  std::weak_ptr<const CachedObject> w1 = v1;
  s.replace({std::move(v1)}, 1, "");
  s.apply(EventType::kModified, big("cm", 2, 1 << 16));
  std::vector<Event> initial;
  auto w = s.watch({}, std::nullopt, &initial, [] {});
  initial.clear();
  ASSERT_TRUE(w.ok());
  int waited = -1;
  s.whenRv(50, [&](bool ok) { waited = ok; });
  s.clear("the hub stopped caching this resource");
  EXPECT_TRUE(w1.expired());
  EXPECT_EQ(s.bytes(), 0u);
  EXPECT_FALSE(s.synced());
  EXPECT_EQ(waited, 0);
  bool closed = false;
  std::string reason;
  (*w)->take(&closed, &reason);
  EXPECT_TRUE(closed);
  EXPECT_NE(reason.find("stopped caching"), std::string::npos);
}

TEST(ResourceStore, ReappliedObjectIsCountedOnce) {
  ResourceStore s(pods(), 100);
  s.replace({}, 1, "");
  auto v = big("cm", 2, 4096);
  s.apply(EventType::kAdded, v);
  s.apply(EventType::kModified, v);  // the same buffer again: index and window share it
  EXPECT_EQ(s.indexBytes(), v->bytes());
  EXPECT_EQ(s.windowBytes(), 2 * ResourceStore::kWindowEventOverhead);
}

TEST(ResourceStore, WritesNotedThroughTheHubKeepTheNewest) {
  ResourceStore s(pods(), 100);
  s.replace({obj("a", "x", 3)}, 10, "[]");
  s.noteWrite(12);
  s.noteWrite(11);  // answers may come back out of order
  EXPECT_EQ(s.writtenRv(), 12u);
  s.replace({obj("a", "x", 3)}, 20, "[]");  // a relist as new as the edge: nothing to wait for
  EXPECT_EQ(s.writtenRv(), 12u);
  s.replace({obj("a", "x", 3)}, 5, "[]");  // the edge's versions went back (a restored etcd)
  EXPECT_EQ(s.writtenRv(), 5u);
}

}  // namespace
}  // namespace kubehub::hub::cache
