#include "metaserver/ctl/output.h"

#include <gtest/gtest.h>

namespace kubehub::ctl {
namespace {

TEST(Output, TableAlignsColumns) {
  Json items = Json::parse(
      R"([{"name":"a","labels":{"env":"prod"},"groups":["x","y"]},{"name":"long-name","labels":{},"groups":[]}])");
  std::string t = renderTable(
      {field("NAME", "name"), field("GROUPS", "groups"), field("LABELS", "labels")}, items);
  EXPECT_EQ(t,
            "NAME        GROUPS   LABELS\n"
            "a           x,y      env=prod\n"
            "long-name   -        -\n");
}

TEST(Output, ObjectsAndValues) {
  EXPECT_EQ(renderObject(Json::parse(R"({"a":"x","b":null,"c":true})")), "a: x\nb: -\nc: true\n");
  EXPECT_EQ(display(Json(3)), "3");
}

TEST(Output, ExitCodes) {
  EXPECT_EQ(exitCodeForHttpStatus(200), kExitOk);
  EXPECT_EQ(exitCodeForHttpStatus(204), kExitOk);
  EXPECT_EQ(exitCodeForHttpStatus(404), kExitNotFound);
  EXPECT_EQ(exitCodeForHttpStatus(409), kExitConflict);
  EXPECT_EQ(exitCodeForHttpStatus(401), kExitDenied);
  EXPECT_EQ(exitCodeForHttpStatus(403), kExitDenied);
  EXPECT_EQ(exitCodeForHttpStatus(503), kExitUnavailable);
  EXPECT_EQ(exitCodeForHttpStatus(422), kExitApiError);
  EXPECT_EQ(exitCodeForHttpStatus(500), kExitApiError);
}

TEST(Output, BansTable) {
  Json bans = Json::parse(R"({
    "users": [{"name": "alice", "tenant": "acme", "reason": "phished", "since": "2024-01-01T00:00:00Z"}],
    "tenants": [{"name": "evil", "reason": "", "since": "2024-01-02T00:00:00Z"}],
    "clusters": [{"name": "edge-9"}], "serverTime": 1})");
  std::string t =
      renderTable({field("KIND", "kind"), field("NAME", "name"), field("TENANT", "tenant"),
                   field("SINCE", "since"), field("REASON", "reason")},
                  banRows(bans));
  EXPECT_EQ(t,
            "KIND      NAME     TENANT   SINCE                  REASON\n"
            "tenant    evil     -        2024-01-02T00:00:00Z   -\n"
            "user      alice    acme     2024-01-01T00:00:00Z   phished\n"
            "cluster   edge-9   -        -                      -\n");
  EXPECT_TRUE(banRows(Json::parse(R"({"users":"nonsense"})")).empty());
  EXPECT_TRUE(banRows(Json::array()).empty());
}

TEST(Output, ListsAndLabels) {
  EXPECT_EQ(splitList(" a, b,,c "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(splitList("").empty());
  auto l = parseLabels("env=prod, zone=a=b");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->at("zone"), "a=b");
  EXPECT_FALSE(parseLabels("novalue").ok());
  EXPECT_FALSE(parseLabels("=x").ok());
}

TEST(Output, AgentInstallCommand) {
  AgentInstall in;
  in.cluster = "edge-1";
  in.hub_urls = {"wss://hub.example.com:8444/tunnel"};
  in.metaserver_url = "https://meta.example.com:8443";
  in.bootstrap_token = "khb_abc-DEF_1";
  in.metaserver_ca_file = "my ca.pem";
  EXPECT_EQ(agentInstallCommand(in),
            "helm install kubehub-agent deploy/helm/kubehub-agent \\\n"
            "  --namespace kubehub-system \\\n"
            "  --create-namespace \\\n"
            "  --set cluster=edge-1 \\\n"
            "  --set hubUrl=wss://hub.example.com:8444/tunnel \\\n"
            "  --set enrollment.metaserverUrl=https://meta.example.com:8443 \\\n"
            "  --set enrollment.bootstrapToken=khb_abc-DEF_1 \\\n"
            "  --set-file enrollment.metaserverCA='my ca.pem'\n");
  // Several hubs: a list, since --set splits a value at its commas.
  in.hub_urls.push_back("wss://hub-2.example.com:8444/tunnel");
  in.metaserver_ca_file.clear();
  std::string manifest = agentInstallCommand(in, true);
  EXPECT_NE(manifest.find("helm template kubehub-agent"), std::string::npos) << manifest;
  EXPECT_NE(manifest.find("--set 'hubUrl={wss://hub.example.com:8444/tunnel,"
                          "wss://hub-2.example.com:8444/tunnel}'"),
            std::string::npos)
      << manifest;
  EXPECT_EQ(manifest.find("--create-namespace"), std::string::npos);
  EXPECT_NE(manifest.find(" > kubehub-agent.yaml\n"), std::string::npos) << manifest;
  EXPECT_EQ(shellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(shellQuote(""), "''");
}

TEST(Output, ClusterStatusCells) {
  Json connected = Json::parse(R"({"name":"edge-1","disabled":false,
    "status":{"connected":true,"hubs":["hub-1"],"since":"2026-01-01T00:00:00Z",
              "report":{"kubernetes":{"gitVersion":"v1.32.4","platform":"linux/amd64"},
                        "nodes":{"total":3,"ready":2,"allocatable":{"cpuMillis":4000,"memoryBytes":1}},
                        "agent":{"version":"0.1.0","build":"dev","uptimeSeconds":5}}}})");
  EXPECT_EQ(clusterConnected(connected), "yes");
  EXPECT_EQ(clusterVersion(connected), "v1.32.4");
  EXPECT_EQ(clusterNodes(connected), "2/3");
  EXPECT_EQ(clusterCpu(connected), "4");
  EXPECT_EQ(clusterMemory(connected), "0.0GiB");
  connected["status"]["report"]["nodes"]["allocatable"] = {{"cpuMillis", 7500},
                                                           {"memoryBytes", 25165824000}};
  EXPECT_EQ(clusterCpu(connected), "7.5");
  EXPECT_EQ(clusterMemory(connected), "23.4GiB");
  connected["status"]["report"]["nodes"]["allocatable"]["cpuMillis"] = 2025;
  EXPECT_EQ(clusterCpu(connected), "2.025");
  EXPECT_EQ(clusterAgentVersion(connected), "0.1.0");
  // Never reported, disconnected and disabled; a report without nodes (listing forbidden).
  Json silent = Json::parse(R"({"name":"edge-2","disabled":true,
    "status":{"connected":false,"hubs":[],"report":null}})");
  EXPECT_EQ(clusterConnected(silent), "no,disabled");
  EXPECT_EQ(clusterVersion(silent), "-");
  EXPECT_EQ(clusterNodes(silent), "-");
  EXPECT_EQ(clusterCpu(silent), "-");
  EXPECT_EQ(clusterMemory(silent), "-");
  EXPECT_EQ(clusterAgentVersion(silent), "-");
  Json forbidden = Json::parse(R"({"status":{"connected":true,
    "report":{"nodesError":"forbidden","agent":{"version":"0.1.0","uptimeSeconds":1}}}})");
  EXPECT_EQ(clusterNodes(forbidden), "-");
  EXPECT_EQ(clusterConnected(Json::object()), "-");
  EXPECT_EQ(clusterKind(Json::object()), "-");
  Json host = Json::parse(R"j({"status":{"connected":true,"kind":"host",
    "report":{"kind":"host","host":{"os":"Debian GNU/Linux 12 (bookworm)","cpus":4,
              "memory":{"totalBytes":8589934592,"availableBytes":1},"uptimeSeconds":1},
              "agent":{"version":"0.1.0","uptimeSeconds":1}}}})j");
  EXPECT_EQ(clusterKind(host), "host");
  // A host: its kind, OS and kernel for the version, its CPUs and memory; no nodes.
  EXPECT_EQ(clusterVersion(host), "Debian GNU/Linux 12 (bookworm)");
  host["status"]["report"]["host"]["kernel"] = "6.1.0-18-amd64";
  EXPECT_EQ(clusterVersion(host), "Debian GNU/Linux 12 (bookworm) (kernel 6.1.0-18-amd64)");
  host["status"]["report"]["host"].erase("os");
  EXPECT_EQ(clusterVersion(host), "6.1.0-18-amd64");
  EXPECT_EQ(clusterNodes(host), "-");
  EXPECT_EQ(clusterCpu(host), "4");
  EXPECT_EQ(clusterMemory(host), "8.0GiB");
  EXPECT_EQ(clusterAgentVersion(host), "0.1.0");
  connected["status"]["kind"] = "kubernetes";
  EXPECT_EQ(clusterKind(connected), "kubernetes");
}

TEST(Output, RenderFlatJoinsNestedKeys) {
  Json j = Json::parse(R"({"name":"edge-1","labels":{},"status":{"hubs":["a","b"],
    "report":{"nodes":{"ready":2}},"since":null}})");
  EXPECT_EQ(renderFlat(j),
            "labels: -\nname: edge-1\nstatus.hubs: a,b\nstatus.report.nodes.ready: 2\n"
            "status.since: -\n");
}

}  // namespace
}  // namespace kubehub::ctl

namespace kubehub::ctl {
namespace {

TEST(Output, RenderClusterShowsCachedTypesAsATable) {
  Json j = Json::parse(R"({"name":"edge-1","status":{"report":{"cache":{"typeCount":2,
    "syncedTypes":1,"objects":12,"truncated":false,"types":[
      {"resource":"pods","version":"v1","objects":9,"synced":true},
      {"resource":"deployments.apps","version":"v1","objects":3,"synced":false}]}}}})");
  EXPECT_EQ(renderCluster(j),
            "name: edge-1\n"
            "status.report.cache.objects: 12\n"
            "status.report.cache.syncedTypes: 1\n"
            "status.report.cache.truncated: false\n"
            "status.report.cache.typeCount: 2\n"
            "status.report.cache.types:\n"
            "  RESOURCE           VERSION   OBJECTS   SYNCED\n"
            "  pods               v1        9         true\n"
            "  deployments.apps   v1        3         false\n");
  j["status"]["report"]["cache"]["types"] = Json::array();
  EXPECT_NE(renderCluster(j).find("status.report.cache.types: -\n"), std::string::npos);
  // Without a cache (a host, an older hub) it is renderFlat.
  Json host = Json::parse(R"({"name":"h","status":{"report":{"kind":"host"}}})");
  EXPECT_EQ(renderCluster(host), renderFlat(host));
}

}  // namespace
}  // namespace kubehub::ctl
