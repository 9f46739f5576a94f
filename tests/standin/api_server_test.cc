#include "tests/standin/api_server.h"

#include <gtest/gtest.h>

#include "tests/standin/seed_data.h"

namespace kubehub::standin {
namespace {

HttpRequest request(std::string method, std::string target, HeaderList headers,
                    std::string body = "") {
  HttpRequest r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.headers = std::move(headers);
  r.body = std::move(body);
  return r;
}

ExecRequest execRequest(std::vector<std::string> command, bool use_stdin = false) {
  ExecRequest r;
  r.pod = "p";
  r.command = std::move(command);
  r.use_stdin = use_stdin;
  return r;
}

class ApiServerTest : public ::testing::Test {
 protected:
  ApiServerTest() : api_(StandinConfig{.token = "t"}) { api_.seed(true, 30); }

  ApiResult call(const std::string& method, const std::string& target, std::string body = "",
                 HeaderList extra = {}) {
    HttpRequest r;
    r.method = method;
    r.target = target;
    r.headers = {{"Authorization", "Bearer t"}, {"Content-Type", "application/json"}};
    for (auto& h : extra) r.headers.push_back(h);
    r.body = std::move(body);
    return api_.handle(r);
  }
  Json json(const ApiResult& r) { return Json::parse(r.response.body); }

  ApiServer api_;
};

TEST_F(ApiServerTest, RequiresTheToken) {
  HttpRequest r = request("GET", "/api/v1/pods", {{"Authorization", "Bearer nope"}});
  ApiResult res = api_.handle(r);
  EXPECT_EQ(res.response.status, 401);
  EXPECT_EQ(json(res)["reason"], "Unauthorized");
  r.headers.clear();
  EXPECT_EQ(api_.handle(r).response.status, 401);
  r.target = "/healthz";
  EXPECT_EQ(api_.handle(r).response.status, 200);
}

TEST_F(ApiServerTest, Discovery) {
  Json apis = json(call("GET", "/apis"));
  EXPECT_EQ(apis["kind"], "APIGroupList");
  EXPECT_EQ(apis["groups"][0]["name"], "apps");
  EXPECT_EQ(apis["groups"][0]["preferredVersion"]["groupVersion"], "apps/v1");
  Json core = json(call("GET", "/api/v1"));
  EXPECT_EQ(core["groupVersion"], "v1");
  bool has_log = false;
  for (const Json& r : core["resources"]) has_log |= r["name"] == "pods/log";
  EXPECT_TRUE(has_log);
  Json apps = json(call("GET", "/apis/apps/v1"));
  EXPECT_EQ(apps["resources"][1]["name"], "deployments/scale");
  EXPECT_EQ(apps["resources"][1]["group"], "autoscaling");
  EXPECT_EQ(json(call("GET", "/version"))["gitVersion"], "v1.32.4");
  EXPECT_EQ(call("GET", "/apis/nope.io/v1").response.status, 404);
  EXPECT_EQ(call("GET", "/api/v1/nopes").response.status, 404);
  Json idx = json(call("GET", "/openapi/v3"));
  EXPECT_TRUE(idx["paths"].contains("apis/example.com/v1"));
}

TEST_F(ApiServerTest, ListPagingWithContinue) {
  std::vector<std::string> names;
  std::string cont;
  int pages = 0;
  do {
    std::string target = "/api/v1/namespaces/default/pods?labelSelector=app%3Dbench&limit=8";
    if (!cont.empty()) target += "&continue=" + cont;
    Json page = json(call("GET", target));
    ASSERT_EQ(page["kind"], "PodList");
    for (const Json& p : page["items"]) names.push_back(p["metadata"]["name"]);
    cont = page["metadata"].value("continue", "");
    EXPECT_FALSE(page["metadata"].contains("remainingItemCount"));  // selectors hide it
    ++pages;
  } while (!cont.empty());
  EXPECT_EQ(pages, 4);
  EXPECT_EQ(names.size(), 30u);
  EXPECT_EQ(names.front(), "bench-00001");
  Json one = json(call("GET", "/api/v1/namespaces/default/pods?limit=1"));
  EXPECT_GT(one["metadata"]["remainingItemCount"].get<int>(), 30);
  EXPECT_EQ(call("GET", "/api/v1/pods?continue=garbage").response.status, 400);
}

TEST_F(ApiServerTest, TableAndPartialMetadata) {
  HeaderList table = {{"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}};
  ApiResult r = call("GET", "/api/v1/namespaces/default/pods/web-1", "", table);
  EXPECT_EQ(r.response.content_type, "application/json;as=Table;v=v1;g=meta.k8s.io");
  Json t = json(r);
  EXPECT_EQ(t["rows"][0]["cells"][2], "Running");
  HeaderList partial = {{"Accept",
                         "application/json;as=PartialObjectMetadataList;v=v1;"
                         "g=meta.k8s.io"}};
  Json p = json(call("GET", "/api/v1/namespaces", "", partial));
  EXPECT_EQ(p["kind"], "PartialObjectMetadataList");
  EXPECT_EQ(call("GET", "/api/v1/pods", "", {{"Accept", "application/vnd.kubernetes.protobuf"}})
                .response.status,
            406);
}

TEST_F(ApiServerTest, ResourceVersionRules) {
  Json list = json(call("GET", "/api/v1/namespaces/default/configmaps"));
  uint64_t rv = std::stoull(list["metadata"]["resourceVersion"].get<std::string>());
  ApiResult too_large =
      call("GET", "/api/v1/configmaps?resourceVersion=" + std::to_string(rv + 100) +
                      "&resourceVersionMatch=NotOlderThan");
  EXPECT_EQ(too_large.response.status, 504);
  EXPECT_EQ(json(too_large)["reason"], "Timeout");
  api_.store().compact();
  ApiResult gone = call("GET", "/api/v1/configmaps?resourceVersion=" + std::to_string(rv - 1) +
                                   "&resourceVersionMatch=Exact");
  EXPECT_EQ(gone.response.status, 410);
  EXPECT_EQ(json(gone)["message"], "The resourceVersion for the provided list is too old.");
  ApiResult watch =
      call("GET", "/api/v1/configmaps?watch=1&resourceVersion=" + std::to_string(rv - 1));
  ASSERT_TRUE(watch.watch.has_value());
  Json ev = Json::parse(watch.watch->session->poll(0));
  EXPECT_EQ(ev["type"], "ERROR");
  EXPECT_EQ(ev["object"]["code"], 410);
}

TEST_F(ApiServerTest, KubeletsRenewTheReadyNodesLeases) {
  const std::string leases = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";
  Json before = json(call("GET", leases));
  ASSERT_EQ(before["items"].size(), 3u);
  EXPECT_EQ(before["items"][0]["spec"]["holderIdentity"], "standin-node-1");
  EXPECT_EQ(before["items"][0]["metadata"]["ownerReferences"][0]["kind"], "Node");
  EXPECT_FALSE(before["items"][0].contains("kind")) << "list items carry no kind";
  // node-1 and node-2 are Ready; node-3's kubelet stopped posting and renews nothing.
  EXPECT_EQ(renewNodeLeases(api_.store()), 2);
  Json after = json(call("GET", leases));
  auto rv = [](const Json& o) {
    return std::stoull(o["metadata"]["resourceVersion"].get<std::string>());
  };
  EXPECT_GT(rv(after), rv(before)) << "the list's resourceVersion moved";
  EXPECT_GT(rv(after["items"][0]), rv(before["items"][0]));
  EXPECT_GE(after["items"][0]["spec"]["renewTime"].get<std::string>(),
            before["items"][0]["spec"]["renewTime"].get<std::string>());
  EXPECT_EQ(rv(after["items"][2]), rv(before["items"][2]));
  bool kubelet = false;
  for (const Json& m : after["items"][0]["metadata"]["managedFields"]) {
    kubelet |= m["manager"] == "kubelet" && m["operation"] == "Update";
  }
  EXPECT_TRUE(kubelet);
  HeaderList table = {{"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}};
  Json t = json(call("GET", leases, "", table));
  EXPECT_EQ(t["columnDefinitions"][1]["name"], "Holder");
  EXPECT_EQ(t["rows"][1]["cells"][1], "standin-node-2");
}

TEST_F(ApiServerTest, CreateUpdatePatchDelete) {
  ApiResult created = call("POST", "/api/v1/namespaces/default/configmaps",
                           R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},
                               "data":{"a":"1"}})");
  EXPECT_EQ(created.response.status, 201);
  ApiResult wrong_ns = call("POST", "/api/v1/namespaces/default/configmaps",
                            R"({"metadata":{"name":"d","namespace":"other"}})");
  EXPECT_EQ(wrong_ns.response.status, 400);
  HttpRequest r =
      request("PATCH", "/api/v1/namespaces/default/configmaps/c",
              {{"Authorization", "Bearer t"}, {"Content-Type", "application/merge-patch+json"}},
              R"({"data":{"b":"2"}})");
  ApiResult ok = api_.handle(r);
  EXPECT_EQ(ok.response.status, 200);
  EXPECT_EQ(json(ok)["data"]["b"], "2");
  ApiResult smp_on_cr = [&] {
    HttpRequest s = r;
    s.target = "/apis/example.com/v1/namespaces/default/widgets/red-widget";
    s.headers[1].second = "application/strategic-merge-patch+json";
    return api_.handle(s);
  }();
  EXPECT_EQ(smp_on_cr.response.status, 415);
  ApiResult del = call("DELETE", "/api/v1/namespaces/default/configmaps/c");
  EXPECT_EQ(del.response.status, 200);
  EXPECT_EQ(json(del)["status"], "Success");
  EXPECT_EQ(json(del)["details"]["kind"], "configmaps");
  ApiResult del_pod = call("DELETE", "/api/v1/namespaces/default/pods/web-2");
  EXPECT_EQ(json(del_pod)["kind"], "Pod");  // pods answer the deleted object
  ApiResult missing = call("DELETE", "/api/v1/namespaces/default/configmaps/c");
  EXPECT_EQ(missing.response.status, 404);
  EXPECT_EQ(json(missing)["message"], "configmaps \"c\" not found");
}

TEST_F(ApiServerTest, ImpersonationAndWhoami) {
  ApiResult me = call("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", "{}",
                      {{"Impersonate-User", "system:serviceaccount:ns1:bot"},
                       {"Impersonate-Extra-Scopes", "a"},
                       {"Impersonate-Extra-Scopes", "b"}});
  ASSERT_EQ(me.response.status, 201);
  Json info = json(me)["status"]["userInfo"];
  EXPECT_EQ(info["username"], "system:serviceaccount:ns1:bot");
  EXPECT_EQ(info["groups"], Json::parse(R"(["system:serviceaccounts",
      "system:serviceaccounts:ns1","system:authenticated"])"));
  EXPECT_EQ(info["extra"]["scopes"], Json::parse(R"(["a","b"])"));
  Json requests = Json::parse(api_.recentRequestsJson());
  EXPECT_EQ(requests.back()["headers"]["Authorization"], "Bearer <redacted>");
  EXPECT_EQ(requests.back()["headers"]["Impersonate-Extra-Scopes"], "a,b");
}

TEST_F(ApiServerTest, ProtobufBodiesOfTypedClients) {
  // A ConfigMap as kubectl's typed client encodes it: "k8s\0" + Unknown{typeMeta, raw}.
  auto field = [](int n, const std::string& v) {
    return std::string(1, static_cast<char>((n << 3) | 2)) +
           std::string(1, static_cast<char>(v.size())) + v;
  };
  std::string meta = field(1, "pb") + field(2, "");
  std::string entry = field(1, "k") + field(2, "v");
  std::string raw = field(1, meta) + field(2, entry);
  std::string type_meta = field(1, "v1") + field(2, "ConfigMap");
  std::string body = std::string("k8s\0", 4) + field(1, type_meta) + field(2, raw);
  HttpRequest r = request(
      "POST", "/api/v1/namespaces/default/configmaps",
      {{"Authorization", "Bearer t"}, {"Content-Type", "application/vnd.kubernetes.protobuf"}},
      body);
  ApiResult res = api_.handle(r);
  ASSERT_EQ(res.response.status, 201) << res.response.body;
  Json cm = json(res);
  EXPECT_EQ(cm["metadata"]["name"], "pb");
  EXPECT_FALSE(cm["metadata"].contains("generateName"));
  EXPECT_EQ(cm["data"]["k"], "v");
  r.body = "k8s";
  EXPECT_EQ(api_.handle(r).response.status, 400);
}

TEST_F(ApiServerTest, LogsAndExecPlans) {
  ApiResult logs = call("GET",
                        "/api/v1/namespaces/default/pods/db-0/log?container=metrics"
                        "&tailLines=1&follow=true");
  ASSERT_TRUE(logs.logs.has_value());
  EXPECT_TRUE(logs.logs->request.follow);
  EXPECT_EQ(PodLogs::history(logs.logs->request), "line 10 from metrics\n");
  ApiResult no_container = call("GET", "/api/v1/namespaces/default/pods/db-0/log");
  EXPECT_EQ(no_container.response.status, 400);
  EXPECT_EQ(json(no_container)["message"],
            "a container name must be specified for pod db-0, choose one of: [postgres "
            "metrics]");
  ApiResult exec =
      call("GET",
           "/api/v1/namespaces/default/pods/web-1/exec?command=echo"
           "&command=hi&stdout=true",
           "", {{"Upgrade", "websocket"}, {"Sec-WebSocket-Protocol", "v5.channel.k8s.io"}});
  ASSERT_TRUE(exec.exec.has_value());
  EXPECT_EQ(exec.exec->protocol, "v5.channel.k8s.io");
  EXPECT_EQ(exec.exec->request.command, (std::vector<std::string>{"echo", "hi"}));
  ApiResult no_upgrade = call("POST",
                              "/api/v1/namespaces/default/pods/web-1/exec?command=ls"
                              "&stdout=true");
  EXPECT_EQ(no_upgrade.response.status, 400);
}

TEST_F(ApiServerTest, PortForwardUpgradesPickTheProtocol) {
  const std::string pf = "/api/v1/namespaces/default/pods/web-1/portforward";
  ApiResult tunnel =
      call("GET", pf, "",
           {{"Upgrade", "websocket"}, {"Sec-WebSocket-Protocol", "SPDY/3.1+portforward.k8s.io"}});
  ASSERT_TRUE(tunnel.port_forward.has_value());
  EXPECT_TRUE(tunnel.port_forward->websocket);
  EXPECT_FALSE(tunnel.port_forward->channels);
  // Any other WebSocket: the kubelet's channel protocol, ports from the query.
  ApiResult channels =
      call("GET", pf + "?ports=80%2C81&ports=80", "",
           {{"Upgrade", "websocket"}, {"Sec-WebSocket-Protocol", "v4.channel.k8s.io"}});
  ASSERT_TRUE(channels.port_forward.has_value());
  EXPECT_TRUE(channels.port_forward->channels);
  EXPECT_FALSE(channels.port_forward->websocket);
  EXPECT_FALSE(channels.port_forward->base64);
  EXPECT_EQ(channels.port_forward->protocol, "v4.channel.k8s.io");
  EXPECT_EQ(channels.port_forward->channel_ports, (std::vector<int>{80, 81, 80}));
  ApiResult bare = call("GET", pf + "?ports=80", "", {{"Upgrade", "websocket"}});
  ASSERT_TRUE(bare.port_forward.has_value());
  EXPECT_EQ(bare.port_forward->protocol, "");
  ApiResult b64 =
      call("GET", pf + "?ports=80", "",
           {{"Upgrade", "websocket"}, {"Sec-WebSocket-Protocol", "v4.base64.channel.k8s.io"}});
  ASSERT_TRUE(b64.port_forward.has_value());
  EXPECT_TRUE(b64.port_forward->base64);
  ApiResult no_ports = call("GET", pf, "", {{"Upgrade", "websocket"}});
  EXPECT_EQ(no_ports.response.status, 400);
  EXPECT_EQ(json(no_ports)["message"], "query parameter \"ports\" is required");
  ApiResult unknown =
      call("GET", pf + "?ports=80", "",
           {{"Upgrade", "websocket"}, {"Sec-WebSocket-Protocol", "v5.channel.k8s.io"}});
  EXPECT_EQ(unknown.response.status, 403);
}

TEST(ExecCommandTest, CommandsAndStatuses) {
  ExecCommand echo(execRequest({"echo", "a", "b"}));
  auto out = echo.start();
  ASSERT_EQ(out.frames.size(), 1u);
  EXPECT_EQ(out.frames[0].second, "a b\n");
  EXPECT_EQ((*out.status)["status"], "Success");
  ExecCommand cat(execRequest({"cat"}, true));
  EXPECT_FALSE(cat.start().status.has_value());
  EXPECT_EQ(cat.onStdin("xy").frames[0].second, "xy");
  EXPECT_EQ((*cat.onStdinClosed().status)["status"], "Success");
  ExecCommand fail(execRequest({"sh", "-c", "exit 7"}));
  Json st = *fail.start().status;
  EXPECT_EQ(st["reason"], "NonZeroExitCode");
  EXPECT_EQ(st["details"]["causes"][0]["reason"], "ExitCode");
  EXPECT_EQ(st["details"]["causes"][0]["message"], "7");
}

TEST_F(ApiServerTest, PodProxyPassesMethodPathQueryAndBody) {
  ApiResult r = call("GET", "/api/v1/namespaces/default/pods/web-1:80/proxy/some/path?x=1&y=a%20b");
  ASSERT_EQ(r.response.status, 200) << r.response.body;
  Json j = json(r);
  EXPECT_EQ(j["method"], "GET");
  EXPECT_EQ(j["path"], "/some/path");
  EXPECT_EQ(j["query"], "x=1&y=a%20b");
  EXPECT_EQ(j["pod"], "default/web-1");
  EXPECT_EQ(j["port"], 80);

  r = call("POST", "/api/v1/namespaces/default/pods/web-1/proxy", "hello");
  ASSERT_EQ(r.response.status, 200) << r.response.body;
  EXPECT_EQ(json(r)["path"], "/");
  EXPECT_EQ(json(r)["body"], "hello");
  EXPECT_EQ(json(r)["port"], 80);

  for (const char* m : {"PUT", "PATCH", "DELETE"}) {
    r = call(m, "/api/v1/namespaces/default/pods/http:db-0:9187/proxy/metrics");
    ASSERT_EQ(r.response.status, 200) << m << r.response.body;
    EXPECT_EQ(json(r)["method"], m);
  }
  r = call("HEAD", "/api/v1/namespaces/default/pods/web-1:80/proxy/");
  EXPECT_EQ(r.response.status, 200);
  EXPECT_TRUE(r.response.body.empty());
}

TEST_F(ApiServerTest, DiscoveryListsTheProxySubresources) {
  Json v1 = json(call("GET", "/api/v1"));
  std::vector<std::string> names;
  for (const Json& r : v1["resources"]) names.push_back(r["name"]);
  EXPECT_NE(std::find(names.begin(), names.end(), "pods/proxy"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "services/proxy"), names.end());
}

TEST_F(ApiServerTest, PodProxyErrorsLikeTheApiServer) {
  ApiResult r = call("GET", "/api/v1/namespaces/default/pods/nope:80/proxy/");
  EXPECT_EQ(r.response.status, 404);
  EXPECT_EQ(json(r)["message"], "pods \"nope\" not found");

  r = call("GET", "/api/v1/namespaces/default/pods/web-1:81/proxy/x");
  EXPECT_EQ(r.response.status, 503);
  Json st = json(r);
  EXPECT_EQ(st["reason"], "ServiceUnavailable");
  const std::string ip =
      json(call("GET", "/api/v1/namespaces/default/pods/web-1"))["status"]["podIP"];
  EXPECT_EQ(st["message"],
            "error trying to reach service: dial tcp " + ip + ":81: connect: connection refused");

  r = call("GET", "/api/v1/namespaces/default/pods/ftp:web-1:80/proxy/");
  EXPECT_EQ(r.response.status, 400);
}

TEST_F(ApiServerTest, ServiceProxyResolvesSelectorAndTargetPort) {
  ApiResult created = call("POST", "/api/v1/namespaces/default/services", R"({
    "apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"},
    "spec": {"selector": {"app": "db"}, "ports": [
      {"name": "sql", "port": 5432, "targetPort": 5432},
      {"name": "metrics", "port": 80, "targetPort": 9187},
      {"name": "dead", "port": 81, "targetPort": 81}]}})");
  ASSERT_EQ(created.response.status, 201) << created.response.body;

  ApiResult r = call("GET", "/api/v1/namespaces/default/services/db:80/proxy/metrics?a=1");
  ASSERT_EQ(r.response.status, 200) << r.response.body;
  Json j = json(r);
  EXPECT_EQ(j["pod"], "default/db-0");
  EXPECT_EQ(j["port"], 9187);
  EXPECT_EQ(j["path"], "/metrics");
  EXPECT_EQ(j["query"], "a=1");

  r = call("GET", "/api/v1/namespaces/default/services/http:db:metrics/proxy");
  ASSERT_EQ(r.response.status, 200) << r.response.body;
  EXPECT_EQ(json(r)["port"], 9187);
  r = call("GET", "/api/v1/namespaces/default/services/db/proxy/");
  EXPECT_EQ(json(r)["port"], 5432);

  r = call("GET", "/api/v1/namespaces/default/services/db:dead/proxy/");
  EXPECT_EQ(r.response.status, 503);
  EXPECT_NE(json(r)["message"].get<std::string>().find(":81: connect: connection refused"),
            std::string::npos);
  r = call("GET", "/api/v1/namespaces/default/services/db:9999/proxy/");
  EXPECT_EQ(r.response.status, 503);
  EXPECT_EQ(json(r)["message"], "no endpoints available for service \"db\"");
  r = call("GET", "/api/v1/namespaces/default/services/nope/proxy/");
  EXPECT_EQ(r.response.status, 404);
  EXPECT_EQ(json(r)["message"], "services \"nope\" not found");
}

}  // namespace
}  // namespace kubehub::standin
