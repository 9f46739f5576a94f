#include "tests/standin/seed_data.h"

#include <chrono>
#include <cstdio>

#include "common/k8s/rfc3339.h"
#include "common/log/log.h"

namespace kubehub::standin {
namespace {

void mustCreate(ObjectStore& store, const char* resource, const char* group, Json obj,
                const char* manager = "kubectl-create") {
  int type = store.registry().find(group, "v1", resource);
  WriteOptions opts;
  opts.field_manager = manager;
  auto r = store.create(type, std::move(obj), opts);
  if (!r.ok()) {
    std::string_view msg(r.status().message().data(), r.status().message().size());
    log::error("seeding failed", {{"resource", resource}, {"error", msg}});
  }
}

Json container(const char* name, const char* image, int port = 0) {
  Json c = {{"name", name}, {"image", image}};
  if (port != 0) {
    c["ports"] = Json::array({Json{{"containerPort", port}, {"protocol", "TCP"}}});
  }
  return c;
}

Json pod(const char* ns, const char* name, Json labels, Json containers,
         const char* node = "standin-node-1") {
  return Json{{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}, {"namespace", ns}, {"labels", std::move(labels)}}},
              {"spec", {{"containers", std::move(containers)}, {"nodeName", node}}}};
}

/// A node as a kubelet reports it. `ready`: "True", or "Unknown" for one whose kubelet stopped
/// posting status (what the node controller writes then). Capacity and allocatable are quantity
/// strings in the forms kubelets use ("4", "3500m", "16331164Ki", "16Gi").
Json node(const char* name, const char* ip, bool control_plane, const char* ready = "True",
          Json capacity = {{"cpu", "2"}, {"memory", "8131020Ki"}, {"pods", "110"}},
          Json allocatable = {{"cpu", "2"}, {"memory", "8028620Ki"}, {"pods", "110"}}) {
  Json labels = {{"kubernetes.io/hostname", name},
                 {"kubernetes.io/os", "linux"},
                 {"kubernetes.io/arch", "amd64"}};
  if (control_plane) labels["node-role.kubernetes.io/control-plane"] = "";
  bool up = std::string_view(ready) == "True";
  Json cond_ready = {
      {"type", "Ready"},
      {"status", ready},
      {"reason", up ? "KubeletReady" : "NodeStatusUnknown"},
      {"message", up ? "kubelet is posting ready status" : "Kubelet stopped posting node status."}};
  return Json{{"apiVersion", "v1"},
              {"kind", "Node"},
              {"metadata", {{"name", name}, {"labels", labels}}},
              {"spec", {{"podCIDR", control_plane ? "10.244.0.0/24" : "10.244.1.0/24"}}},
              {"status",
               {{"capacity", std::move(capacity)},
                {"allocatable", std::move(allocatable)},
                {"conditions", Json::array({cond_ready})},
                {"addresses", Json::array({Json{{"type", "InternalIP"}, {"address", ip}},
                                           Json{{"type", "Hostname"}, {"address", name}}})},
                {"nodeInfo",
                 {{"machineID", std::string(32, control_plane ? 'a' : 'b')},
                  {"systemUUID", control_plane ? "4c4c4544-0031-3010-8058-b4c04f4d3032"
                                               : "4c4c4544-0031-3010-8058-b4c04f4d3033"},
                  {"bootID", control_plane ? "0f5d0c1e-8f0b-4bf5-9b3c-6d0a5c7f1a11"
                                           : "0f5d0c1e-8f0b-4bf5-9b3c-6d0a5c7f1a12"},
                  {"kubeletVersion", "v1.32.4"},
                  {"kubeProxyVersion", "v1.32.4"},
                  {"osImage", "Debian GNU/Linux 12 (bookworm)"},
                  {"kernelVersion", "6.1.0-28-amd64"},
                  {"containerRuntimeVersion", "containerd://1.7.24"},
                  {"operatingSystem", "linux"},
                  {"architecture", "amd64"}}}}}};
}

std::string microNow() {
  auto since = std::chrono::system_clock::now().time_since_epoch();
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(since).count();
  return k8s::formatRfc3339Micro(
      k8s::Timestamp{us / 1'000'000, static_cast<int32_t>(us % 1'000'000) * 1000});
}

/// A node's Lease as its kubelet creates it: owned by the Node, held by the node's name,
/// 40 s long, renewed every quarter of that.
Json nodeLease(const ObjectStore& store, const std::string& node_name) {
  Json owner = Json::array();
  int nodes = store.registry().find("", "v1", "nodes");
  if (auto n = store.get(nodes, "", node_name); n.ok()) {
    owner.push_back(Json{{"apiVersion", "v1"},
                         {"kind", "Node"},
                         {"name", node_name},
                         {"uid", (*n)->json.at("metadata").value("uid", "")}});
  }
  return Json{
      {"apiVersion", "coordination.k8s.io/v1"},
      {"kind", "Lease"},
      {"metadata",
       {{"name", node_name},
        {"namespace", kNodeLeaseNamespace},
        {"ownerReferences", std::move(owner)}}},
      {"spec",
       {{"holderIdentity", node_name}, {"leaseDurationSeconds", 40}, {"renewTime", microNow()}}}};
}

/// A pod shaped like one a ReplicaSet created on a real cluster: owner reference, the
/// service account token volume, default tolerations, resources, probes and (from the
/// simulated kubelet) status; with managedFields, about 4.5 KB of compact JSON.
Json benchPod(const char* name, const char* node) {
  Json c = container("app", "registry.k8s.io/pause:3.10", 8080);
  c["ports"][0]["name"] = "http";
  c["env"] = Json::array(
      {Json{{"name", "POD_NAME"},
            {"valueFrom", {{"fieldRef", {{"apiVersion", "v1"}, {"fieldPath", "metadata.name"}}}}}},
       Json{{"name", "LOG_LEVEL"}, {"value", "info"}}});
  c["resources"] = {{"limits", {{"cpu", "100m"}, {"memory", "64Mi"}}},
                    {"requests", {{"cpu", "10m"}, {"memory", "16Mi"}}}};
  c["readinessProbe"] = {{"httpGet", {{"path", "/healthz"}, {"port", 8080}, {"scheme", "HTTP"}}},
                         {"periodSeconds", 10},
                         {"timeoutSeconds", 1},
                         {"successThreshold", 1},
                         {"failureThreshold", 3}};
  c["imagePullPolicy"] = "IfNotPresent";
  c["terminationMessagePath"] = "/dev/termination-log";
  c["terminationMessagePolicy"] = "File";
  c["volumeMounts"] =
      Json::array({Json{{"name", "kube-api-access-7xk2p"},
                        {"readOnly", true},
                        {"mountPath", "/var/run/secrets/kubernetes.io/serviceaccount"}}});
  Json p = pod("default", name, {{"app", "bench"}, {"pod-template-hash", "6d8f7c9b5"}},
               Json::array({c}), node);
  Json& md = p["metadata"];
  md["generateName"] = "bench-6d8f7c9b5-";
  md["ownerReferences"] = Json::array({Json{{"apiVersion", "apps/v1"},
                                            {"kind", "ReplicaSet"},
                                            {"name", "bench-6d8f7c9b5"},
                                            {"uid", "5d2c7a9e-3f1b-4c8d-9e6a-2b7f4d1c8e3a"},
                                            {"controller", true},
                                            {"blockOwnerDeletion", true}}});
  Json& spec = p["spec"];
  spec["dnsPolicy"] = "ClusterFirst";
  spec["enableServiceLinks"] = true;
  spec["preemptionPolicy"] = "PreemptLowerPriority";
  spec["priority"] = 0;
  spec["restartPolicy"] = "Always";
  spec["schedulerName"] = "default-scheduler";
  spec["securityContext"] = Json::object();
  spec["serviceAccount"] = "default";
  spec["serviceAccountName"] = "default";
  spec["terminationGracePeriodSeconds"] = 30;
  Json tolerations = Json::array();
  for (const char* key : {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"}) {
    tolerations.push_back(Json{
        {"effect", "NoExecute"}, {"key", key}, {"operator", "Exists"}, {"tolerationSeconds", 300}});
  }
  spec["tolerations"] = std::move(tolerations);
  Json sources = Json::array(
      {Json{{"serviceAccountToken", {{"expirationSeconds", 3607}, {"path", "token"}}}},
       Json{{"configMap",
             {{"name", "kube-root-ca.crt"},
              {"items", Json::array({Json{{"key", "ca.crt"}, {"path", "ca.crt"}}})}}}},
       Json{{"downwardAPI",
             {{"items",
               Json::array(
                   {Json{{"fieldRef", {{"apiVersion", "v1"}, {"fieldPath", "metadata.namespace"}}},
                         {"path", "namespace"}}})}}}}});
  spec["volumes"] =
      Json::array({Json{{"name", "kube-api-access-7xk2p"},
                        {"projected", {{"defaultMode", 420}, {"sources", std::move(sources)}}}}});
  return p;
}

}  // namespace

void seedObjects(ObjectStore& store, bool objects, int64_t extra_pods) {
  if (objects) {
    for (const char* ns : {"default", "kube-system", "kube-public", kNodeLeaseNamespace}) {
      mustCreate(store, "namespaces", "",
                 Json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
    }
    mustCreate(store, "nodes", "", node("standin-node-1", "10.0.0.11", true));
    mustCreate(store, "nodes", "", node("standin-node-2", "10.0.0.12", false));
    // A bigger worker whose kubelet went quiet: NotReady, its pods are not scheduled there.
    mustCreate(store, "nodes", "",
               node("standin-node-3", "10.0.0.13", false, "Unknown",
                    {{"cpu", "4"}, {"memory", "16331164Ki"}, {"pods", "110"}},
                    {{"cpu", "3500m"}, {"memory", "16Gi"}, {"pods", "110"}}));
    for (const char* name : {"standin-node-1", "standin-node-2", "standin-node-3"}) {
      mustCreate(store, "leases", "coordination.k8s.io", nodeLease(store, name), "kubelet");
    }

    mustCreate(store, "pods", "",
               pod("default", "web-1", {{"app", "web"}, {"tier", "frontend"}},
                   Json::array({container("nginx", "nginx:1.27", 80)})));
    mustCreate(store, "pods", "",
               pod("default", "web-2", {{"app", "web"}, {"tier", "frontend"}},
                   Json::array({container("nginx", "nginx:1.27", 80)}), "standin-node-2"));
    // Two containers, one of which restarted twice: exercises Ready 2/2 and RESTARTS.
    Json db = pod("default", "db-0", {{"app", "db"}, {"tier", "backend"}},
                  Json::array({container("postgres", "postgres:16", 5432),
                               container("metrics", "prom/postgres-exporter:v0.15.0", 9187)}));
    db["metadata"]["annotations"] = {{"kubectl.kubernetes.io/default-container", "postgres"}};
    mustCreate(store, "pods", "", db);
    {
      int type = store.registry().find("", "v1", "pods");
      (void)store.mutate(
          type, "default", "db-0",
          [](const Json& cur) -> absl::StatusOr<Json> {
            Json next = cur;
            Json& cs = next["status"]["containerStatuses"][1];
            cs["restartCount"] = 2;
            cs["lastState"] = {{"terminated",
                                {{"exitCode", 137},
                                 {"reason", "OOMKilled"},
                                 {"startedAt", cur["metadata"]["creationTimestamp"]},
                                 {"finishedAt", cur["metadata"]["creationTimestamp"]}}}};
            return next;
          },
          WriteOptions{
              .dry_run = false, .status_only = true, .field_manager = "kubelet", .apply = false});
    }
    mustCreate(
        store, "pods", "",
        pod("kube-system", "coredns-7db6d8ff4d-x2z5q", {{"k8s-app", "kube-dns"}},
            Json::array({container("coredns", "registry.k8s.io/coredns/coredns:v1.11.3", 53)})));

    mustCreate(
        store, "configmaps", "",
        Json{{"apiVersion", "v1"},
             {"kind", "ConfigMap"},
             {"metadata",
              {{"name", "app-config"}, {"namespace", "default"}, {"labels", {{"app", "web"}}}}},
             {"data", {{"mode", "production"}, {"replicas", "2"}}}});
    mustCreate(store, "configmaps", "",
               Json{{"apiVersion", "v1"},
                    {"kind", "ConfigMap"},
                    {"metadata", {{"name", "coredns"}, {"namespace", "kube-system"}}},
                    {"data", {{"Corefile", ".:53 {\n    forward . /etc/resolv.conf\n}\n"}}}});
    mustCreate(store, "secrets", "",
               Json{{"apiVersion", "v1"},
                    {"kind", "Secret"},
                    {"metadata", {{"name", "app-secret"}, {"namespace", "default"}}},
                    {"type", "Opaque"},
                    {"data", {{"password", "c2VjcmV0"}}}});
    mustCreate(
        store, "services", "",
        Json{{"apiVersion", "v1"},
             {"kind", "Service"},
             {"metadata",
              {{"name", "kubernetes"},
               {"namespace", "default"},
               {"labels", {{"component", "apiserver"}, {"provider", "kubernetes"}}}}},
             {"spec",
              {{"clusterIP", "10.96.0.1"},
               {"clusterIPs", {"10.96.0.1"}},
               {"ports",
                Json::array({Json{
                    {"name", "https"}, {"port", 443}, {"protocol", "TCP"}, {"targetPort", 6443}}})},
               {"type", "ClusterIP"}}}});
    mustCreate(
        store, "deployments", "apps",
        Json{
            {"apiVersion", "apps/v1"},
            {"kind", "Deployment"},
            {"metadata", {{"name", "web"}, {"namespace", "default"}, {"labels", {{"app", "web"}}}}},
            {"spec",
             {{"replicas", 2},
              {"selector", {{"matchLabels", {{"app", "web"}}}}},
              {"template",
               {{"metadata", {{"labels", {{"app", "web"}, {"tier", "frontend"}}}}},
                {"spec",
                 {{"containers", Json::array({container("nginx", "nginx:1.27", 80)})}}}}}}}});
    mustCreate(
        store, "events", "",
        Json{{"apiVersion", "v1"},
             {"kind", "Event"},
             {"metadata", {{"name", "web-1.17f2a3b4c5d6e7f8"}, {"namespace", "default"}}},
             {"involvedObject",
              {{"kind", "Pod"}, {"namespace", "default"}, {"name", "web-1"}, {"apiVersion", "v1"}}},
             {"reason", "Scheduled"},
             {"message", "Successfully assigned default/web-1 to standin-node-1"},
             {"source", {{"component", "default-scheduler"}}},
             {"firstTimestamp", rfc3339Now()},
             {"lastTimestamp", rfc3339Now()},
             {"count", 1},
             {"type", "Normal"}});
    for (auto [name, color, size] :
         {std::tuple{"red-widget", "red", 3}, std::tuple{"blue-widget", "blue", 5}}) {
      mustCreate(store, "widgets", "example.com",
                 Json{{"apiVersion", "example.com/v1"},
                      {"kind", "Widget"},
                      {"metadata",
                       {{"name", name}, {"namespace", "default"}, {"labels", {{"color", color}}}}},
                      {"spec", {{"color", color}, {"size", size}}}});
    }
  }
  if (extra_pods > 0) {
    if (!objects) {
      mustCreate(
          store, "namespaces", "",
          Json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "default"}}}});
    }
    char name[32];
    for (int64_t i = 1; i <= extra_pods; ++i) {
      std::snprintf(name, sizeof(name), "bench-%05lld", static_cast<long long>(i));
      mustCreate(store, "pods", "", benchPod(name, (i & 1) ? "standin-node-1" : "standin-node-2"),
                 "kube-controller-manager");
    }
  }
}

int renewNodeLeases(ObjectStore& store) {
  const int leases = store.registry().find("coordination.k8s.io", "v1", "leases");
  const int nodes = store.registry().find("", "v1", "nodes");
  ListSpec all;
  absl::StatusOr<ListResult> listed = store.list(nodes, all);
  if (!listed.ok()) return 0;
  int renewed = 0;
  for (const ObjectPtr& node : listed->items) {
    const Json& n = node->json;
    bool ready = false;
    if (auto st = n.find("status"); st != n.end() && st->contains("conditions")) {
      for (const Json& c : st->at("conditions")) {
        if (c.value("type", "") == "Ready") ready = c.value("status", "") == "True";
      }
    }
    if (!ready) continue;  // a kubelet that stopped posting status renews nothing either
    const std::string name = n.at("metadata").value("name", "");
    std::string renew_time = microNow();
    auto r = store.mutate(
        leases, kNodeLeaseNamespace, name,
        [&renew_time](const Json& cur) -> absl::StatusOr<Json> {
          Json next = cur;
          next["spec"]["renewTime"] = renew_time;
          return next;
        },
        WriteOptions{
            .dry_run = false, .status_only = false, .field_manager = "kubelet", .apply = false});
    if (r.ok()) ++renewed;  // a lease a test deleted stays deleted (a kubelet would recreate it)
  }
  return renewed;
}

}  // namespace kubehub::standin
