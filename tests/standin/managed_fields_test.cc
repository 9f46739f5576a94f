#include "tests/standin/managed_fields.h"

#include <gtest/gtest.h>

#include "tests/standin/api_server.h"

namespace kubehub::standin {
namespace {

Json deployment() {
  return Json::parse(R"({"kind":"Deployment","apiVersion":"apps/v1",
    "metadata":{"name":"web","namespace":"d","labels":{"app":"web"},"uid":"u-1"},
    "spec":{"replicas":2,"template":{"spec":{"containers":[
      {"name":"nginx","image":"nginx:1.27","ports":[{"containerPort":80,"protocol":"TCP"}]}]}}}})");
}

const Json& entries(const Json& o) { return o["metadata"]["managedFields"]; }

TEST(ManagedFields, CreateGivesTheWriterEveryFieldItSetInFieldsV1Form) {
  Json o = deployment();
  recordManagedFields(o, nullptr, {"kubectl-create", "Update", ""}, "apps/v1",
                      "2026-01-01T00:00:00Z");
  ASSERT_EQ(entries(o).size(), 1u);
  const Json& e = entries(o)[0];
  EXPECT_EQ(e["manager"], "kubectl-create");
  EXPECT_EQ(e["operation"], "Update");
  EXPECT_EQ(e["apiVersion"], "apps/v1");
  EXPECT_EQ(e["time"], "2026-01-01T00:00:00Z");
  EXPECT_EQ(e["fieldsType"], "FieldsV1");
  EXPECT_FALSE(e.contains("subresource"));
  const Json& f = e["fieldsV1"];
  EXPECT_EQ(f["f:metadata"], Json::parse(R"({"f:labels":{".":{},"f:app":{}}})"));
  EXPECT_EQ(f["f:spec"]["f:replicas"], Json::object());
  const Json& c = f["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"nginx\"}"];
  EXPECT_EQ(c["."], Json::object());
  EXPECT_EQ(c["f:image"], Json::object());
  EXPECT_EQ(c["f:ports"]["k:{\"containerPort\":80,\"protocol\":\"TCP\"}"]["f:containerPort"],
            Json::object());
  EXPECT_FALSE(f["f:metadata"].contains("f:uid")) << "server-set metadata is nobody's";
}

TEST(ManagedFields, AnotherWriterTakesWhatItChangedAndNoOpsChangeNothing) {
  Json v1 = deployment();
  recordManagedFields(v1, nullptr, {"kubectl-create", "Update", ""}, "apps/v1", "t1");
  Json v2 = v1;
  v2["spec"]["replicas"] = 5;
  recordManagedFields(v2, &v1, {"kubectl-scale", "Update", ""}, "apps/v1", "t2");
  ASSERT_EQ(entries(v2).size(), 2u);
  EXPECT_FALSE(entries(v2)[0]["fieldsV1"]["f:spec"].contains("f:replicas"));
  EXPECT_EQ(entries(v2)[0]["time"], "t1");
  EXPECT_EQ(entries(v2)[1]["manager"], "kubectl-scale");
  EXPECT_EQ(entries(v2)[1]["fieldsV1"], Json::parse(R"({"f:spec":{"f:replicas":{}}})"));

  Json same = v2;
  recordManagedFields(same, &v2, {"someone", "Update", ""}, "apps/v1", "t3");
  EXPECT_EQ(same, v2) << "a write that changes nothing leaves managedFields as they were";

  // Removing the only field a manager owned drops its entry.
  Json v3 = v2;
  v3["spec"].erase("replicas");
  recordManagedFields(v3, &v2, {"kubectl-edit", "Update", ""}, "apps/v1", "t4");
  ASSERT_EQ(entries(v3).size(), 1u);
  EXPECT_EQ(entries(v3)[0]["manager"], "kubectl-create");
}

TEST(ManagedFields, StatusWritesAreTheirOwnSubresourceEntry) {
  Json v1 = deployment();
  recordManagedFields(v1, nullptr, {"kubectl-create", "Update", ""}, "apps/v1", "t1");
  Json v2 = v1;
  v2["status"] = {{"replicas", 2}, {"conditions", Json::array({Json{{"type", "Available"}}})}};
  recordManagedFields(v2, &v1, {"kube-controller-manager", "Update", "status"}, "apps/v1", "t2");
  ASSERT_EQ(entries(v2).size(), 2u);
  EXPECT_EQ(entries(v2)[1]["subresource"], "status");
  EXPECT_TRUE(entries(v2)[1]["fieldsV1"]["f:status"]["f:conditions"].contains(
      "k:{\"type\":\"Available\"}"));
  EXPECT_FALSE(entries(v2)[1]["fieldsV1"].contains("f:spec"));
}

TEST(ManagedFields, ManagerNameComesFromTheRequest) {
  EXPECT_EQ(managerName("helm", "kubectl/v1.33.0 (linux/amd64)"), "helm");
  EXPECT_EQ(managerName("", "kubectl/v1.33.0 (linux/amd64) kubernetes/abc"), "kubectl");
  EXPECT_EQ(managerName("", "OpenAPI-Generator/31.0.0/python"), "OpenAPI-Generator");
  EXPECT_EQ(managerName("", ""), "unknown");
}

class ApiShapeTest : public ::testing::Test {
 protected:
  ApiShapeTest() : api_(StandinConfig{.token = "t"}) { api_.seed(true, 3); }
  Json get(const std::string& target, HeaderList extra = {}) {
    HttpRequest r;
    r.method = "GET";
    r.target = target;
    r.headers = {{"Authorization", "Bearer t"}};
    for (auto& h : extra) r.headers.push_back(h);
    ApiResult res = api_.handle(r);
    EXPECT_EQ(res.response.status, 200) << res.response.body;
    return Json::parse(res.response.body);
  }
  ApiServer api_;
};

TEST_F(ApiShapeTest, ListItemsOfBuiltInTypesHaveNoTypeMetaCustomResourcesDo) {
  Json pods = get("/api/v1/namespaces/default/pods");
  ASSERT_FALSE(pods["items"].empty());
  for (const Json& item : pods["items"]) {
    EXPECT_FALSE(item.contains("kind"));
    EXPECT_FALSE(item.contains("apiVersion"));
    EXPECT_EQ(item.begin().key(), "metadata");
  }
  Json pod = get("/api/v1/namespaces/default/pods/web-1");
  EXPECT_EQ(pod["kind"], "Pod");
  Json widgets = get("/apis/example.com/v1/namespaces/default/widgets");
  ASSERT_FALSE(widgets["items"].empty());
  EXPECT_EQ(widgets["items"][0]["kind"], "Widget");
  EXPECT_EQ(widgets["items"][0]["apiVersion"], "example.com/v1");
}

TEST_F(ApiShapeTest, ObjectsCarryManagedFieldsOfTheirWritersAndRealisticSize) {
  Json pod = get("/api/v1/namespaces/default/pods/bench-00001");
  const Json& mf = pod["metadata"]["managedFields"];
  ASSERT_EQ(mf.size(), 2u) << mf.dump();
  EXPECT_EQ(mf[0]["manager"], "kube-controller-manager");
  EXPECT_TRUE(mf[0]["fieldsV1"]["f:metadata"].contains("f:ownerReferences"));
  EXPECT_EQ(mf[1]["manager"], "kubelet");
  EXPECT_EQ(mf[1]["subresource"], "status");
  EXPECT_TRUE(mf[1]["fieldsV1"]["f:status"].contains("f:containerStatuses"));
  // A ReplicaSet's pod on a real cluster is 4-6 KB of compact JSON.
  size_t size = pod.dump().size();
  EXPECT_GT(size, 4000u);
  EXPECT_LT(size, 8000u);

  HttpRequest r;
  r.method = "PATCH";
  r.target = "/api/v1/namespaces/default/pods/bench-00001";
  r.headers = {{"Authorization", "Bearer t"},
               {"Content-Type", "application/merge-patch+json"},
               {"User-Agent", "kubectl/v1.33.0 (linux/amd64) kubernetes/abc"}};
  r.body = R"({"metadata":{"labels":{"patched":"yes"}}})";
  ASSERT_EQ(api_.handle(r).response.status, 200);
  Json patched = get("/api/v1/namespaces/default/pods/bench-00001");
  const Json& after = patched["metadata"]["managedFields"];
  ASSERT_EQ(after.size(), 3u) << after.dump();
  EXPECT_EQ(after[2]["manager"], "kubectl");
  EXPECT_EQ(after[2]["fieldsV1"], Json::parse(R"({"f:metadata":{"f:labels":{"f:patched":{}}}})"));

  // managedFields a client sends are not taken: the server keeps its own record.
  r.body = R"({"metadata":{"managedFields":[{"manager":"forged","operation":"Update"}]}})";
  ASSERT_EQ(api_.handle(r).response.status, 200);
  Json unforged = get("/api/v1/namespaces/default/pods/bench-00001");
  EXPECT_EQ(unforged["metadata"]["managedFields"], after);

  r.headers[1].second = "application/apply-patch+yaml";
  r.body = R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"bench-00001"}})";
  ApiResult refused = api_.handle(r);
  EXPECT_EQ(refused.response.status, 400);
  EXPECT_NE(refused.response.body.find("fieldManager: Required value"), std::string::npos);
}

}  // namespace
}  // namespace kubehub::standin
