#include "tests/standin/object_store.h"

#include <gtest/gtest.h>

#include "tests/standin/api_error.h"

namespace kubehub::standin {
namespace {

class ObjectStoreTest : public ::testing::Test {
 protected:
  ObjectStoreTest() : store_(registry_, 100) {
    ns_ = registry_.find("", "v1", "namespaces");
    cm_ = registry_.find("", "v1", "configmaps");
    for (const char* ns : {"a", "a-b", "b"}) {
      EXPECT_TRUE(store_.create(ns_, Json{{"metadata", {{"name", ns}}}}, {}).ok());
    }
  }

  ObjectPtr put(const std::string& ns, const std::string& name, const std::string& value = "v") {
    auto r = store_.create(
        cm_, Json{{"metadata", {{"name", name}, {"namespace", ns}}}, {"data", {{"k", value}}}}, {});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : nullptr;
  }

  std::vector<std::string> names(const ListResult& r) {
    std::vector<std::string> out;
    for (const auto& o : r.items) out.push_back(o->key);
    return out;
  }

  ResourceRegistry registry_;
  ObjectStore store_;
  int ns_ = 0;
  int cm_ = 0;
};

TEST_F(ObjectStoreTest, CreateAssignsMetadataAndResourceVersions) {
  uint64_t before = store_.currentRv();
  ObjectPtr o = put("a", "x");
  EXPECT_EQ(o->rv, before + 1);
  const Json& meta = o->json["metadata"];
  EXPECT_EQ(meta["resourceVersion"], std::to_string(before + 1));
  EXPECT_EQ(meta["uid"].get<std::string>().size(), 36u);
  EXPECT_TRUE(meta.contains("creationTimestamp"));
  EXPECT_EQ(o->json["kind"], "ConfigMap");
  EXPECT_EQ(o->json["apiVersion"], "v1");
  EXPECT_EQ(o->json.begin().key(), "kind");

  auto dup = store_.create(cm_, Json{{"metadata", {{"name", "x"}, {"namespace", "a"}}}}, {});
  ASSERT_FALSE(dup.ok());
  ErrorResponse e = toErrorResponse(dup.status());
  EXPECT_EQ(e.code, 409);
  EXPECT_NE(e.body.find(R"("message":"configmaps \"x\" already exists")"), std::string::npos);
  EXPECT_NE(e.body.find(R"("reason":"AlreadyExists")"), std::string::npos);

  auto missing_ns =
      store_.create(cm_, Json{{"metadata", {{"name", "x"}, {"namespace", "zz"}}}}, {});
  ASSERT_FALSE(missing_ns.ok());
  EXPECT_NE(toErrorResponse(missing_ns.status()).body.find(R"(namespaces \"zz\" not found)"),
            std::string::npos);
}

// Secrets as the real API server validates them: what an agent keeping its credentials in a
// kubernetes.io/tls Secret runs into.
TEST_F(ObjectStoreTest, SecretsOfTypeTlsAndImmutableTypes) {
  int secrets = registry_.find("", "v1", "secrets");
  auto incomplete = store_.create(secrets,
                                  Json{{"metadata", {{"name", "creds"}, {"namespace", "a"}}},
                                       {"type", "kubernetes.io/tls"},
                                       {"data", {{"tls.crt", ""}}}},
                                  {});
  ASSERT_FALSE(incomplete.ok());
  ErrorResponse e = toErrorResponse(incomplete.status());
  EXPECT_EQ(e.code, 422);
  EXPECT_NE(e.body.find(R"(Secret \"creds\" is invalid: data[tls.key]: Required value)"),
            std::string::npos)
      << e.body;
  // Empty values are fine: a chart creates the Secret before the agent fills it.
  auto created = store_.create(secrets,
                               Json{{"metadata", {{"name", "creds"}, {"namespace", "a"}}},
                                    {"type", "kubernetes.io/tls"},
                                    {"data", {{"tls.crt", ""}, {"tls.key", ""}}}},
                               {});
  ASSERT_TRUE(created.ok()) << created.status();
  Json next = (*created)->json;
  next["data"]["tls.crt"] = "Y2VydA==";
  next["stringData"] = {{"ca.crt", "ca"}};
  auto updated = store_.update(secrets, "a", "creds", next, {});
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ((*updated)->json["data"]["ca.crt"], "Y2E=");
  EXPECT_FALSE((*updated)->json.contains("stringData"));
  Json retyped = (*updated)->json;
  retyped["type"] = "Opaque";
  auto refused = store_.update(secrets, "a", "creds", retyped, {});
  ASSERT_FALSE(refused.ok());
  e = toErrorResponse(refused.status());
  EXPECT_EQ(e.code, 422);
  EXPECT_NE(e.body.find("field is immutable"), std::string::npos) << e.body;
}

TEST_F(ObjectStoreTest, GenerateName) {
  auto r =
      store_.create(cm_, Json{{"metadata", {{"generateName", "gen-"}, {"namespace", "a"}}}}, {});
  ASSERT_TRUE(r.ok());
  std::string name = (*r)->json["metadata"]["name"];
  EXPECT_EQ(name.size(), 9u);
  EXPECT_EQ(name.rfind("gen-", 0), 0u);
}

TEST_F(ObjectStoreTest, UpdateChecksResourceVersion) {
  ObjectPtr o = put("a", "x");
  Json next = o->json;
  next["data"]["k"] = "w";
  auto ok = store_.update(cm_, "a", "x", next, {});
  ASSERT_TRUE(ok.ok());
  EXPECT_GT((*ok)->rv, o->rv);
  auto stale = store_.update(cm_, "a", "x", next, {});  // still carries the old version
  ASSERT_FALSE(stale.ok());
  ErrorResponse e = toErrorResponse(stale.status());
  EXPECT_EQ(e.code, 409);
  EXPECT_NE(e.body.find("Operation cannot be fulfilled on configmaps \\\"x\\\": the object has "
                        "been modified; please apply your changes to the latest version and "
                        "try again"),
            std::string::npos);
  // Unconditional update and a no-op update that keeps the version.
  Json same = (*ok)->json;
  same["metadata"].erase("resourceVersion");
  auto noop = store_.update(cm_, "a", "x", same, {});
  ASSERT_TRUE(noop.ok());
  EXPECT_EQ((*noop)->rv, (*ok)->rv);
}

TEST_F(ObjectStoreTest, DryRunDoesNotPersist) {
  uint64_t rv = store_.currentRv();
  auto r = store_.create(
      cm_, Json{{"metadata", {{"name", "dry"}, {"namespace", "a"}}}},
      WriteOptions{.dry_run = true, .status_only = false, .field_manager = "", .apply = false});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(store_.currentRv(), rv);
  EXPECT_FALSE(store_.get(cm_, "a", "dry").ok());
}

TEST_F(ObjectStoreTest, ListsByNamespacePrefixInKeyOrder) {
  put("a", "2");
  put("a", "1");
  put("a-b", "1");
  put("b", "1");
  ListSpec all;
  auto r = store_.list(cm_, all);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(names(*r), (std::vector<std::string>{"a-b/1", "a/1", "a/2", "b/1"}));
  ListSpec in_a;
  in_a.ns = "a";
  EXPECT_EQ(names(*store_.list(cm_, in_a)), (std::vector<std::string>{"a/1", "a/2"}));
}

TEST_F(ObjectStoreTest, PagingAtAnExactRevisionIsConsistent) {
  for (int i = 0; i < 6; ++i) put("a", "n" + std::to_string(i));
  ListSpec page;
  page.limit = 3;
  auto first = store_.list(cm_, page);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(names(*first), (std::vector<std::string>{"a/n0", "a/n1", "a/n2"}));
  EXPECT_TRUE(first->more);
  EXPECT_EQ(first->remaining, 3u);
  // Changes after the first page must not show in the rest of a paged list.
  ASSERT_TRUE(store_.remove(cm_, "a", "n4", {}, {}).ok());
  put("a", "n3x");
  auto modified = store_.mutate(cm_, "a", "n5",
                                [](const Json& cur) -> absl::StatusOr<Json> {
                                  Json n = cur;
                                  n["data"]["k"] = "changed";
                                  return n;
                                },
                                {});
  ASSERT_TRUE(modified.ok());
  ListSpec rest;
  rest.limit = 3;
  rest.start_after = first->last_key;
  rest.exact_rv = first->rv;
  auto second = store_.list(cm_, rest);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(names(*second), (std::vector<std::string>{"a/n3", "a/n4", "a/n5"}));
  EXPECT_EQ(second->items[2]->json["data"]["k"], "v");
  EXPECT_FALSE(second->more);
  // The latest state has the changes.
  rest.exact_rv.reset();
  EXPECT_EQ(names(*store_.list(cm_, rest)), (std::vector<std::string>{"a/n3", "a/n3x", "a/n5"}));
}

TEST_F(ObjectStoreTest, EventsAndCompaction) {
  uint64_t rv = store_.currentRv();
  put("a", "x");
  ASSERT_TRUE(store_.remove(cm_, "a", "x", {}, {}).ok());
  auto batch = store_.eventsAfter(cm_, rv, 100);
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ(batch->events.size(), 2u);
  EXPECT_EQ(batch->events[0].type, EventType::kAdded);
  EXPECT_EQ(batch->events[1].type, EventType::kDeleted);
  EXPECT_NE(batch->events[1].prev, nullptr);
  EXPECT_EQ(batch->rv, store_.currentRv());
  store_.compact();
  auto gone = store_.eventsAfter(cm_, rv, 100);
  ASSERT_FALSE(gone.ok());
  ErrorResponse e = toErrorResponse(gone.status());
  EXPECT_EQ(e.code, 410);
  EXPECT_NE(e.body.find("too old resource version: " + std::to_string(rv) + " (" +
                        std::to_string(store_.currentRv()) + ")"),
            std::string::npos);
  EXPECT_TRUE(store_.eventsAfter(cm_, store_.currentRv(), 100).ok());
  ListSpec exact;
  exact.exact_rv = rv;
  EXPECT_EQ(store_.list(cm_, exact).status().code(), absl::StatusCode::kOutOfRange);
}

TEST_F(ObjectStoreTest, WindowDropsOldEvents) {
  ObjectStore small(registry_, 2);
  ASSERT_TRUE(small.create(ns_, Json{{"metadata", {{"name", "a"}}}}, {}).ok());
  uint64_t start = small.currentRv();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(
        small.create(cm_, Json{{"metadata", {{"name", std::to_string(i)}, {"namespace", "a"}}}}, {})
            .ok());
  }
  EXPECT_FALSE(small.eventsAfter(cm_, start, 10).ok());
  EXPECT_TRUE(small.eventsAfter(cm_, start + 1, 10).ok());
}

TEST_F(ObjectStoreTest, DeletingANamespaceDeletesItsObjects) {
  put("a", "x");
  put("a-b", "y");
  int seen = 0;
  uint64_t id = store_.subscribe([&seen] { ++seen; });
  ASSERT_TRUE(store_.remove(ns_, "", "a", {}, {}).ok());
  store_.unsubscribe(id);
  EXPECT_EQ(seen, 1);
  EXPECT_FALSE(store_.get(cm_, "a", "x").ok());
  EXPECT_TRUE(store_.get(cm_, "a-b", "y").ok());
}

TEST_F(ObjectStoreTest, DeletePreconditions) {
  ObjectPtr o = put("a", "x");
  auto bad = store_.remove(cm_, "a", "x", {.uid = "nope", .resource_version = ""}, {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(toErrorResponse(bad.status()).code, 409);
  EXPECT_TRUE(
      store_.remove(cm_, "a", "x", {.uid = o->json["metadata"]["uid"], .resource_version = ""}, {})
          .ok());
}

}  // namespace
}  // namespace kubehub::standin
