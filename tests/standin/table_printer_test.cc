#include "tests/standin/table_printer.h"

#include <gtest/gtest.h>

namespace kubehub::standin {
namespace {

TEST(TablePrinterTest, HumanDuration) {
  EXPECT_EQ(TablePrinter::humanDuration(-5), "<invalid>");
  EXPECT_EQ(TablePrinter::humanDuration(-1), "0s");
  EXPECT_EQ(TablePrinter::humanDuration(59), "59s");
  EXPECT_EQ(TablePrinter::humanDuration(119), "119s");
  EXPECT_EQ(TablePrinter::humanDuration(125), "2m5s");
  EXPECT_EQ(TablePrinter::humanDuration(600), "10m");
  EXPECT_EQ(TablePrinter::humanDuration(3 * 3600 + 60), "3h1m");
  EXPECT_EQ(TablePrinter::humanDuration(10 * 3600), "10h");
  EXPECT_EQ(TablePrinter::humanDuration(3 * 86400 + 3600), "3d1h");
  EXPECT_EQ(TablePrinter::humanDuration(30 * 86400), "30d");
  EXPECT_EQ(TablePrinter::humanDuration(int64_t{3} * 365 * 86400), "3y");
}

TEST(TablePrinterTest, PodColumnsAndCells) {
  ResourceRegistry reg;
  const ResourceType& pods = reg.type(reg.find("", "v1", "pods"));
  Json cols = TablePrinter::columnDefinitions(pods);
  ASSERT_EQ(cols.size(), 9u);
  EXPECT_EQ(cols[0]["name"], "Name");
  EXPECT_EQ(cols[0]["format"], "name");
  EXPECT_EQ(cols[3]["name"], "Restarts");
  EXPECT_EQ(cols[5]["priority"], 1);
  EXPECT_EQ(cols[8]["name"], "Readiness Gates");

  int64_t created = TablePrinter::parseTimestamp("2024-01-01T00:00:00Z");
  Json pod = Json::parse(R"({
    "metadata":{"name":"p","creationTimestamp":"2024-01-01T00:00:00Z"},
    "spec":{"nodeName":"n1","containers":[{"name":"a"},{"name":"b"}]},
    "status":{"phase":"Running","podIPs":[{"ip":"10.0.0.5"}],"containerStatuses":[
      {"name":"a","ready":true,"restartCount":1,"state":{"running":{}},
       "lastState":{"terminated":{"finishedAt":"2024-01-01T00:01:00Z"}}},
      {"name":"b","ready":false,"restartCount":0,"state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}})");
  Json cells = TablePrinter::cells(pods, pod, created + 600);
  EXPECT_EQ(cells, Json::parse(R"j(["p","1/2","CrashLoopBackOff","1 (9m ago)","10m","10.0.0.5",
                                    "n1","<none>","<none>"])j"));
}

TEST(TablePrinterTest, CustomResourcePrinterColumns) {
  ResourceRegistry reg;
  const ResourceType& widgets = reg.type(reg.find("example.com", "v1", "widgets"));
  Json w = Json::parse(R"({"metadata":{"name":"w","creationTimestamp":"2024-01-01T00:00:00Z"},
                           "spec":{"color":"red","size":3}})");
  int64_t now = TablePrinter::parseTimestamp("2024-01-01T00:00:30Z");
  EXPECT_EQ(TablePrinter::cells(widgets, w, now), Json::parse(R"(["w","red",3,"30s"])"));
  Json bare = Json::parse(R"({"metadata":{"name":"b"}})");
  EXPECT_EQ(TablePrinter::cells(widgets, bare, now), Json::parse(R"(["b",null,null,null])"));
}

TEST(TablePrinterTest, TableShapeAndIncludeObject) {
  ResourceRegistry reg;
  const ResourceType& cms = reg.type(reg.find("", "v1", "configmaps"));
  Json cm = Json::parse(R"({"kind":"ConfigMap","apiVersion":"v1",
      "metadata":{"name":"c","namespace":"d","creationTimestamp":"2024-01-01T00:00:00Z"},
      "data":{"a":"1","b":"2"}})");
  TableOptions opts;
  std::string text = TablePrinter::table(cms, {&cm}, Json{{"resourceVersion", "7"}}, opts, 0);
  Json t = Json::parse(text);
  EXPECT_EQ(t["kind"], "Table");
  EXPECT_EQ(t["apiVersion"], "meta.k8s.io/v1");
  EXPECT_EQ(t["metadata"]["resourceVersion"], "7");
  EXPECT_EQ(t["columnDefinitions"].size(), 3u);
  EXPECT_EQ(t["rows"][0]["cells"][1], 2);
  EXPECT_EQ(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
  EXPECT_EQ(t["rows"][0]["object"]["metadata"]["name"], "c");
  opts.include = IncludeObject::kObject;
  opts.no_headers = true;
  t = Json::parse(TablePrinter::table(cms, {&cm}, Json::object(), opts, 0));
  EXPECT_TRUE(t["columnDefinitions"].is_null());
  EXPECT_EQ(t["rows"][0]["object"]["data"]["a"], "1");
  opts.include = IncludeObject::kNone;
  t = Json::parse(TablePrinter::table(cms, {&cm}, Json::object(), opts, 0));
  EXPECT_TRUE(t["rows"][0]["object"].is_null());
}

}  // namespace
}  // namespace kubehub::standin
