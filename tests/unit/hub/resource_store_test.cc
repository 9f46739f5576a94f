#include "hub/cache/resource_store.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace kubehub::hub::cache
