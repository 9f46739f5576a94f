#include "tests/standin/patch.h"

#include <gtest/gtest.h>

namespace kubehub::standin {
namespace {

Json j(const char* text) { return Json::parse(text); }

TEST(PatchTest, MergePatchReplacesListsAndDeletesNulls) {
  auto r = applyMergePatch(j(R"({"a":1,"b":{"c":2,"d":3},"l":[1,2]})"),
                           j(R"({"b":{"c":null,"e":4},"l":[3]})"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, j(R"({"a":1,"b":{"d":3,"e":4},"l":[3]})"));
}

TEST(PatchTest, JsonPatchOperationsAndFailedTest) {
  auto r = applyJsonPatch(j(R"({"spec":{"replicas":1,"l":[1]}})"),
                          j(R"([{"op":"replace","path":"/spec/replicas","value":3},
                                {"op":"add","path":"/spec/l/-","value":2},
                                {"op":"add","path":"/metadata","value":{"a~b":1}}])"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)["spec"]["replicas"], 3);
  EXPECT_EQ((*r)["spec"]["l"], j("[1,2]"));
  auto bad = applyJsonPatch(j(R"({"a":1})"), j(R"([{"op":"test","path":"/a","value":2}])"));
  EXPECT_FALSE(bad.ok());
  EXPECT_FALSE(applyJsonPatch(j(R"({"a":1})"), j(R"({"op":"add"})")).ok());
}

TEST(PatchTest, StrategicMergesContainersByName) {
  Json pod = j(R"({"spec":{"containers":[
      {"name":"a","image":"a:1","env":[{"name":"X","value":"1"}]},
      {"name":"b","image":"b:1"}]}})");
  auto r = applyStrategicMergePatch(pod, j(R"({"spec":{"containers":[
      {"name":"a","image":"a:2","env":[{"name":"Y","value":"2"}]},
      {"name":"c","image":"c:1"}]}})"));
  ASSERT_TRUE(r.ok());
  const Json& cs = (*r)["spec"]["containers"];
  ASSERT_EQ(cs.size(), 3u);
  EXPECT_EQ(cs[0]["image"], "a:2");
  EXPECT_EQ(cs[0]["env"].size(), 2u);  // env merges by name too
  EXPECT_EQ(cs[1]["name"], "b");
  EXPECT_EQ(cs[2]["name"], "c");
}

TEST(PatchTest, StrategicDirectives) {
  Json obj = j(R"({"metadata":{"labels":{"a":"1","b":"2"},"finalizers":["x"]},
                   "spec":{"containers":[{"name":"a"},{"name":"b"}],"args":["1","2"]}})");
  auto r = applyStrategicMergePatch(obj, j(R"({
      "metadata":{"labels":{"a":null},"finalizers":["y"]},
      "spec":{"$setElementOrder/containers":[{"name":"b"},{"name":"a"}],
              "containers":[{"name":"a","$patch":"delete"}],
              "args":["3"]}})"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)["metadata"]["labels"], j(R"({"b":"2"})"));
  EXPECT_EQ((*r)["metadata"]["finalizers"], j(R"(["x","y"])"));
  EXPECT_EQ((*r)["spec"]["containers"], j(R"([{"name":"b"}])"));
  EXPECT_EQ((*r)["spec"]["args"], j(R"(["3"])"));  // no merge key: replaced

  auto order = applyStrategicMergePatch(
      obj, j(R"({"spec":{"$setElementOrder/containers":[{"name":"b"},{"name":"a"}]}})"));
  ASSERT_TRUE(order.ok());
  EXPECT_EQ((*order)["spec"]["containers"], j(R"([{"name":"b"},{"name":"a"}])"));

  auto replace =
      applyStrategicMergePatch(obj, j(R"({"metadata":{"labels":{"$patch":"replace","z":"9"}}})"));
  ASSERT_TRUE(replace.ok());
  EXPECT_EQ((*replace)["metadata"]["labels"], j(R"({"z":"9"})"));
}

TEST(PatchTest, StrategicPortsMergeOnTheirKeys) {
  Json svc = j(R"({"spec":{"ports":[{"port":80,"name":"http"}]}})");
  auto r = applyStrategicMergePatch(svc, j(R"({"spec":{"ports":[{"port":80,"name":"web"},
                                                                 {"port":443}]}})"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)["spec"]["ports"], j(R"([{"port":80,"name":"web"},{"port":443}])"));
}

TEST(PatchTest, ContentTypes) {
  EXPECT_EQ(patchTypeFor("application/merge-patch+json"), PatchType::kMerge);
  EXPECT_EQ(patchTypeFor("application/json-patch+json; charset=utf-8"), PatchType::kJson);
  EXPECT_EQ(patchTypeFor("application/strategic-merge-patch+json"), PatchType::kStrategic);
  EXPECT_EQ(patchTypeFor("application/apply-patch+yaml"), PatchType::kApply);
  EXPECT_FALSE(patchTypeFor("application/json").has_value());
}

}  // namespace
}  // namespace kubehub::standin
