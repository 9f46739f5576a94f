#include "hub/cache/object_codec.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "hub/cache/json_stream.h"

namespace kubehub::hub::cache {
namespace {

constexpr const char* kColumns =
    R"([{"name":"Name","type":"string","format":"name","description":"Name must be unique","priority":0},)"
    R"({"name":"Data","type":"string","format":"","description":"Data","priority":0},)"
    R"({"name":"Age","type":"string","format":"","description":"CreationTimestamp is a timestamp","priority":0}])";

std::string tableList() {
  return std::string(
             R"({"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"42","continue":"abc"},"columnDefinitions":)") +
         kColumns +
         R"(,"rows":[{"cells":["c1",2,"5m"],"object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"c1","namespace":"default","labels":{"app":"web"},"creationTimestamp":"2026-01-01T00:00:00Z","resourceVersion":"40"},"data":{"a":"1","b":"2"}}}]})";
}

TEST(ObjectCodec, ParsesEdgeTableList) {
  auto l = parseEdgeList(tableList(), -1);
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_TRUE(l->is_table);
  EXPECT_EQ(l->rv, 42u);
  EXPECT_EQ(l->continue_token, "abc");
  ASSERT_EQ(l->objects.size(), 1u);
  const auto& o = *l->objects[0];
  EXPECT_EQ(o.ns, "default");
  EXPECT_EQ(o.name, "c1");
  EXPECT_EQ(o.rv, 40u);
  EXPECT_EQ(o.labels, (k8s::Labels{{"app", "web"}}));
  EXPECT_EQ(o.age_column, 2);
  EXPECT_EQ(o.created_unix, 1767225600);
  // Field order of the edge's object is kept.
  EXPECT_TRUE(o.json.starts_with(R"({"kind":"ConfigMap","apiVersion":"v1","metadata":)")) << o.json;
}

TEST(ObjectCodec, RecomputesAgeWhenServingTables) {
  auto l = parseEdgeList(tableList(), -1);
  ASSERT_TRUE(l.ok());
  ListPage page{l->objects, 42, "", 0};
  Encoding enc;
  enc.table = true;
  enc.now_unix = 1767225600 + 3600 * 5 + 60 * 7;
  auto j = nlohmann::json::parse(
      encodeList({"", "v1", "configmaps", "ConfigMap", true}, page, enc, l->columns));
  EXPECT_EQ(j["kind"], "Table");
  EXPECT_EQ(j["metadata"]["resourceVersion"], "42");
  EXPECT_EQ(j["columnDefinitions"].size(), 3u);
  EXPECT_EQ(j["rows"][0]["cells"], nlohmann::json::parse(R"(["c1",2,"5h7m"])"));
  EXPECT_EQ(j["rows"][0]["object"]["kind"], "PartialObjectMetadata");
  EXPECT_EQ(j["rows"][0]["object"]["metadata"]["name"], "c1");
  enc.include_object = "None";
  auto none = nlohmann::json::parse(
      encodeList({"", "v1", "configmaps", "ConfigMap", true}, page, enc, l->columns));
  EXPECT_TRUE(none["rows"][0]["object"].is_null());
}

TEST(ObjectCodec, CreationTimestampsWithAnOffsetAreTheSameInstant) {
  // The Age column is recomputed from creationTimestamp: an offset other than Z (which a
  // server may write, and RFC 3339 allows) names the same instant, not one two hours off.
  std::string list = tableList();
  std::string z = "2026-01-01T00:00:00Z";
  list.replace(list.find(z), z.size(), "2026-01-01T02:00:00+02:00");
  auto l = parseEdgeList(list, -1);
  ASSERT_TRUE(l.ok()) << l.status();
  ASSERT_EQ(l->objects.size(), 1u);
  EXPECT_EQ(l->objects[0]->created_unix, 1767225600);
}

TEST(ObjectCodec, TypedListAndWatchEvents) {
  auto l = parseEdgeList(tableList(), -1);
  TypeInfo t{"", "v1", "configmaps", "ConfigMap", true};
  ListPage page{l->objects, 42, "kh1.x", 7};
  Encoding enc;
  auto j = nlohmann::json::parse(encodeList(t, page, enc, ""));
  EXPECT_EQ(j["kind"], "ConfigMapList");
  EXPECT_EQ(j["apiVersion"], "v1");
  EXPECT_EQ(j["metadata"]["continue"], "kh1.x");
  EXPECT_EQ(j["metadata"]["remainingItemCount"], 7);
  EXPECT_EQ(j["items"][0]["data"]["b"], "2");
  enc.items_have_type_meta = false;
  auto bare = nlohmann::json::parse(encodeList(t, page, enc, ""));
  EXPECT_FALSE(bare["items"][0].contains("kind"));

  Event e{EventType::kModified, l->objects[0], 40, nullptr};
  std::string line = encodeWatchEvent(t, e, Encoding{}, "", false);
  EXPECT_EQ(line.back(), '\n');
  auto ev = nlohmann::json::parse(line);
  EXPECT_EQ(ev["type"], "MODIFIED");
  EXPECT_EQ(ev["object"]["metadata"]["name"], "c1");
  auto bm = nlohmann::json::parse(encodeBookmark(t, 99, Encoding{}, true));
  EXPECT_EQ(bm["type"], "BOOKMARK");
  EXPECT_EQ(bm["object"]["metadata"]["resourceVersion"], "99");
  EXPECT_EQ(bm["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");
}

TEST(ObjectCodec, ParsesEdgeWatchEvents) {
  std::string added =
      std::string(
          R"({"type":"ADDED","object":{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"20"},"columnDefinitions":)") +
      kColumns +
      R"(,"rows":[{"cells":["c3",1,"0s"],"object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"c3","namespace":"default","resourceVersion":"20"}}}]}})";
  auto e = parseEdgeEvent(added, -1);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->kind, EdgeEvent::Kind::kObject);
  EXPECT_EQ(e->type, EventType::kAdded);
  EXPECT_EQ(e->rv, 20u);
  EXPECT_FALSE(e->columns.empty());
  auto bookmark = parseEdgeEvent(
      R"({"type":"BOOKMARK","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"resourceVersion":"77"}}})",
      -1);
  ASSERT_TRUE(bookmark.ok());
  EXPECT_EQ(bookmark->kind, EdgeEvent::Kind::kBookmark);
  EXPECT_EQ(bookmark->rv, 77u);
  auto err = parseEdgeEvent(
      R"({"type":"ERROR","object":{"kind":"Status","code":410,"message":"too old"}})", -1);
  ASSERT_TRUE(err.ok());
  EXPECT_EQ(err->kind, EdgeEvent::Kind::kError);
  EXPECT_EQ(err->code, 410);
  EXPECT_FALSE(parseEdgeEvent("{}", -1).ok());
  EXPECT_FALSE(
      parseEdgeEvent(
          R"({"type":"ADDED","object":{"metadata":{"name":"x","resourceVersion":"abc"}}})", -1)
          .ok());
}

/// Every member of `object` but kind/apiVersion, in order, as the item form must hold them.
nlohmann::ordered_json withoutTypeMeta(std::string_view json) {
  auto j = nlohmann::ordered_json::parse(json);
  j.erase("kind");
  j.erase("apiVersion");
  return j;
}

TEST(ObjectCodec, ListItemFormIsTheObjectWithoutTypeMetaWhereverItStood) {
  TypeInfo t{"example.com", "v1", "widgets", "Widget", true};
  const char* md = R"("metadata":{"name":"w","namespace":"d","resourceVersion":"5"})";
  for (std::string members : {
           std::string(R"("kind":"Widget","apiVersion":"example.com/v1",)") + md +
               R"(,"spec":{"kind":"not top-level"})",
           std::string(R"("apiVersion":"example.com/v1","kind":"Widget",)") + md + R"(,"spec":{})",
           std::string(R"("apiVersion":"example.com/v1",)") + md + R"(,"kind":"Widget","spec":{})",
           md + std::string(R"(,"kind":"Widget","spec":{"a":1},"apiVersion":"example.com/v1")"),
           md + std::string(R"(,"kind":"Widget","spec":1,"apiVersion":"example.com/v1","x":2)"),
           std::string(R"("kind":"Widget",)") + md,
       }) {
    std::string object = "{" + members + "}";
    std::string event = R"({"type":"ADDED","object":)" + object + "}";
    auto e = parseEdgeEvent(event, -1, &t);
    ASSERT_TRUE(e.ok()) << e.status() << " " << object;
    std::string item;
    e->object->appendItem(&item);
    ASSERT_TRUE(nlohmann::json::accept(item)) << item;
    EXPECT_EQ(nlohmann::ordered_json::parse(item), withoutTypeMeta(object)) << object;
    EXPECT_EQ(nlohmann::ordered_json::parse(e->object->json),
              nlohmann::ordered_json::parse(object));
    EXPECT_EQ(nlohmann::json::parse(e->object->metadata())["name"], "w");
  }
}

TEST(ObjectCodec, PlainListItemsGetTheirKindBackForGets) {
  TypeInfo t{"", "v1", "configmaps", "ConfigMap", true};
  auto l = parseEdgeList(
      R"({"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"9"},"items":[)"
      R"({"metadata":{"name":"c","namespace":"d","resourceVersion":"8"},"data":{"k":"v"}}]})",
      -1, &t);
  ASSERT_TRUE(l.ok()) << l.status();
  const CachedObject& o = *l->objects[0];
  EXPECT_TRUE(o.json.starts_with(R"({"kind":"ConfigMap","apiVersion":"v1","metadata":{)"))
      << o.json;
  std::string item;
  o.appendItem(&item);
  EXPECT_EQ(item,
            R"({"metadata":{"name":"c","namespace":"d","resourceVersion":"8"},"data":{"k":"v"}})");
  ListPage page{l->objects, 9, "", 0};
  Encoding enc;
  enc.items_have_type_meta = false;
  auto j = nlohmann::json::parse(encodeList(t, page, enc, ""));
  EXPECT_EQ(j["items"][0], nlohmann::json::parse(item));
}

TEST(ObjectCodec, HumanDurationMatchesTheApiServer) {
  EXPECT_EQ(humanDuration(0), "0s");
  EXPECT_EQ(humanDuration(119), "119s");
  EXPECT_EQ(humanDuration(125), "2m5s");
  EXPECT_EQ(humanDuration(600), "10m");
  EXPECT_EQ(humanDuration(3 * 3600 + 60), "3h1m");
  EXPECT_EQ(humanDuration(9 * 3600), "9h");
  EXPECT_EQ(humanDuration(3 * 86400 + 3600), "3d1h");
  EXPECT_EQ(humanDuration(40 * 86400), "40d");
  EXPECT_EQ(humanDuration(3LL * 365 * 86400 + 86400), "3y1d");
  EXPECT_EQ(humanDuration(-5), "<invalid>");
}

TEST(ObjectCodec, RelativeTimesInCellsMoveOn) {
  EXPECT_EQ(parseHumanDuration("3m12s"), 192);
  EXPECT_EQ(parseHumanDuration("2y40d"), 2 * 365 * 86400 + 40 * 86400);
  EXPECT_EQ(parseHumanDuration("5x"), -1);
  EXPECT_EQ(ageCell(R"x("2 (1s ago)")x", 5), R"x("2 (6s ago)")x");
  EXPECT_EQ(ageCell(R"x("2 (9m55s ago)")x", 10), R"x("2 (10m ago)")x");
  EXPECT_EQ(ageCell(R"x("Running")x", 10), R"x("Running")x");
  EXPECT_EQ(ageCell("3", 10), "3");
}

TEST(JsonStream, SplitsAcrossArbitraryChunks) {
  std::string stream = R"({"type":"ADDED","object":{"a":"}{\"x"}})"
                       "\n"
                       R"({"type":"DELETED","object":{"b":[1,2,{"c":"]"}]}})"
                       "\n";
  for (size_t chunk = 1; chunk <= stream.size(); ++chunk) {
    JsonStreamSplitter s;
    std::vector<std::string> out;
    for (size_t i = 0; i < stream.size(); i += chunk)
      ASSERT_TRUE(s.feed(stream.substr(i, chunk), &out).ok());
    ASSERT_EQ(out.size(), 2u) << "chunk " << chunk;
    EXPECT_TRUE(nlohmann::json::accept(out[0]));
    EXPECT_TRUE(nlohmann::json::accept(out[1]));
    EXPECT_EQ(s.pending(), 0u);
  }
}

TEST(JsonStream, BoundsAndGarbage) {
  JsonStreamSplitter small(16);
  std::vector<std::string> out;
  EXPECT_FALSE(small.feed(R"({"a":"0123456789012345678901234567890")", &out).ok());
  JsonStreamSplitter s;
  EXPECT_FALSE(s.feed("garbage", &out).ok());
}

TEST(ObjectCodec, TheResourceVersionOfAWritesAnswer) {
  // As an API server answers a create: kind, apiVersion, then metadata with the version before
  // labels, annotations and managedFields (which may mention the key in their values).
  EXPECT_EQ(leadingResourceVersion(
                R"({"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a","namespace":"b",)"
                R"("uid":"u","resourceVersion":"4711","creationTimestamp":"2026-12-05T00:00:00Z",)"
                R"("annotations":{"x":""resourceVersion":"1""}},"data":{}})"),
            4711u);
  // A Status (a delete of a collection, an eviction) has none; nor a prefix cut before it.
  EXPECT_EQ(leadingResourceVersion(R"({"kind":"Status","apiVersion":"v1","status":"Success"})"),
            std::nullopt);
  EXPECT_EQ(leadingResourceVersion(R"({"kind":"Pod","metadata":{"resourceVersion":"12)"),
            std::nullopt);
  EXPECT_EQ(leadingResourceVersion(R"({"metadata":{"resourceVersion":""}})"), std::nullopt);
  EXPECT_EQ(leadingResourceVersion(R"({"metadata":{"resourceVersion":"12a"}})"), std::nullopt);
  EXPECT_EQ(leadingResourceVersion(R"({"metadata":{"resourceVersion":"99999999999999999999"}})"),
            std::nullopt);
  EXPECT_EQ(leadingResourceVersion(R"({"metadata":{"resourceVersion":"18446744073709551615"}})"),
            18446744073709551615u);
}

}  // namespace
}  // namespace kubehub::hub::cache
