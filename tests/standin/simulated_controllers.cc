#include "tests/standin/simulated_controllers.h"

#include <cstdio>
#include <string>

#include "absl/strings/escaping.h"
#include "tests/standin/api_error.h"

namespace kubehub::standin {
namespace {

std::string ipFor(std::string_view prefix, std::string_view seed) {
  uint32_t h = stableHash(seed);
  return std::string(prefix) + std::to_string((h >> 8) % 250 + 1) + "." +
         std::to_string(h % 250 + 2);
}

std::string hex64(std::string_view seed) {
  char buf[65];
  uint32_t h = stableHash(seed);
  for (int i = 0; i < 64; i += 8) {
    h = h * 2654435761u + 0x9e3779b9u;
    std::snprintf(buf + i, 9, "%08x", h);
  }
  return std::string(buf, 64);
}

Json& objectAt(Json& parent, const char* key) {
  if (!parent.contains(key) || !parent[key].is_object()) parent[key] = Json::object();
  return parent[key];
}

void defaultPod(Json& pod) {
  // ordered_json keeps members in a vector: create every top-level member before taking
  // references, or a later insertion would leave them dangling.
  objectAt(pod, "metadata");
  objectAt(pod, "spec");
  objectAt(pod, "status");
  Json& meta = objectAt(pod, "metadata");
  Json& spec = objectAt(pod, "spec");
  const std::string name = meta.value("name", std::string());
  const std::string ns = meta.value("namespace", std::string());
  const std::string created = meta.value("creationTimestamp", std::string());
  if (!spec.contains("restartPolicy")) spec["restartPolicy"] = "Always";
  if (!spec.contains("terminationGracePeriodSeconds")) spec["terminationGracePeriodSeconds"] = 30;
  if (!spec.contains("dnsPolicy")) spec["dnsPolicy"] = "ClusterFirst";
  if (!spec.contains("serviceAccountName")) spec["serviceAccountName"] = "default";
  if (!spec.contains("schedulerName")) spec["schedulerName"] = "default-scheduler";
  if (!spec.contains("containers") || !spec["containers"].is_array()) {
    spec["containers"] = Json::array();
  }
  for (Json& c : spec["containers"]) {
    if (!c.is_object()) continue;
    std::string image = c.value("image", std::string());
    if (!c.contains("imagePullPolicy")) {
      bool latest = image.find(':') == std::string::npos || image.ends_with(":latest");
      c["imagePullPolicy"] = latest ? "Always" : "IfNotPresent";
    }
    if (!c.contains("terminationMessagePath")) {
      c["terminationMessagePath"] = "/dev/termination-log";
    }
    if (!c.contains("terminationMessagePolicy")) c["terminationMessagePolicy"] = "File";
    if (!c.contains("resources")) c["resources"] = Json::object();
  }
  // The scheduler: spread pods over the two seeded nodes.
  if (spec.value("nodeName", std::string()).empty()) {
    spec["nodeName"] = (stableHash(ns + "/" + name) & 1) ? "standin-node-2" : "standin-node-1";
  }
  // The kubelet: report the pod Running with every container ready, once.
  Json& status = objectAt(pod, "status");
  if (status.contains("phase")) return;
  const std::string node = spec["nodeName"].get<std::string>();
  const std::string host_ip = node == "standin-node-2" ? "10.0.0.12" : "10.0.0.11";
  const std::string pod_ip = ipFor("10.244.", ns + "/" + name);
  auto cond = [&](const char* type) {
    return Json{{"type", type},
                {"status", "True"},
                {"lastProbeTime", nullptr},
                {"lastTransitionTime", created}};
  };
  status["phase"] = "Running";
  status["conditions"] =
      Json::array({cond("PodReadyToStartContainers"), cond("Initialized"), cond("Ready"),
                   cond("ContainersReady"), cond("PodScheduled")});
  status["hostIP"] = host_ip;
  status["hostIPs"] = Json::array({Json{{"ip", host_ip}}});
  status["podIP"] = pod_ip;
  status["podIPs"] = Json::array({Json{{"ip", pod_ip}}});
  status["startTime"] = created;
  Json statuses = Json::array();
  for (const Json& c : spec["containers"]) {
    if (!c.is_object()) continue;
    std::string cname = c.value("name", std::string());
    std::string image = c.value("image", std::string());
    statuses.push_back(Json{{"name", cname},
                            {"state", {{"running", {{"startedAt", created}}}}},
                            {"lastState", Json::object()},
                            {"ready", true},
                            {"restartCount", 0},
                            {"image", image},
                            {"imageID", image + "@sha256:" + hex64(image)},
                            {"containerID", "containerd://" + hex64(ns + name + cname)},
                            {"started", true}});
  }
  status["containerStatuses"] = statuses;
  status["qosClass"] = "BestEffort";
}

void defaultDeployment(Json& d) {
  objectAt(d, "metadata");
  objectAt(d, "spec");
  objectAt(d, "status");
  Json& spec = objectAt(d, "spec");
  if (!spec.contains("replicas")) spec["replicas"] = 1;
  if (!spec.contains("revisionHistoryLimit")) spec["revisionHistoryLimit"] = 10;
  if (!spec.contains("progressDeadlineSeconds")) spec["progressDeadlineSeconds"] = 600;
  if (!spec.contains("strategy") || !spec["strategy"].is_object() || spec["strategy"].empty()) {
    spec["strategy"] = {{"type", "RollingUpdate"},
                        {"rollingUpdate", {{"maxUnavailable", "25%"}, {"maxSurge", "25%"}}}};
  }
  // The deployment controller: every desired replica is up to date and available.
  int64_t replicas = spec["replicas"].is_number_integer() ? spec["replicas"].get<int64_t>() : 1;
  Json& status = objectAt(d, "status");
  status["observedGeneration"] = d["metadata"].value("generation", int64_t{1});
  if (replicas > 0) {
    status["replicas"] = replicas;
    status["updatedReplicas"] = replicas;
    status["readyReplicas"] = replicas;
    status["availableReplicas"] = replicas;
  } else {
    status.erase("replicas");
    status.erase("updatedReplicas");
    status.erase("readyReplicas");
    status.erase("availableReplicas");
  }
  std::string now = d["metadata"].value("creationTimestamp", std::string());
  status["conditions"] =
      Json::array({Json{{"type", "Available"},
                        {"status", "True"},
                        {"lastUpdateTime", now},
                        {"lastTransitionTime", now},
                        {"reason", "MinimumReplicasAvailable"},
                        {"message", "Deployment has minimum availability."}},
                   Json{{"type", "Progressing"},
                        {"status", "True"},
                        {"lastUpdateTime", now},
                        {"lastTransitionTime", now},
                        {"reason", "NewReplicaSetAvailable"},
                        {"message", "ReplicaSet \"" + d["metadata"].value("name", std::string()) +
                                        "-5d8c9b7f6\" has successfully progressed."}}});
}

void defaultNamespace(Json& ns) {
  objectAt(ns, "metadata");
  objectAt(ns, "spec");
  objectAt(ns, "status");
  Json& meta = objectAt(ns, "metadata");
  Json& labels = objectAt(meta, "labels");
  labels["kubernetes.io/metadata.name"] = meta.value("name", std::string());
  Json& spec = objectAt(ns, "spec");
  if (!spec.contains("finalizers")) spec["finalizers"] = Json::array({"kubernetes"});
  Json& status = objectAt(ns, "status");
  if (!status.contains("phase")) status["phase"] = "Active";
}

void defaultService(Json& svc) {
  objectAt(svc, "metadata");
  objectAt(svc, "spec");
  Json& meta = objectAt(svc, "metadata");
  Json& spec = objectAt(svc, "spec");
  if (!spec.contains("type")) spec["type"] = "ClusterIP";
  if (!spec.contains("sessionAffinity")) spec["sessionAffinity"] = "None";
  if (!spec.contains("clusterIP") && spec["type"] != "ExternalName") {
    std::string ip = ipFor(
        "10.96.", meta.value("namespace", std::string()) + "/" + meta.value("name", std::string()));
    spec["clusterIP"] = ip;
    spec["clusterIPs"] = Json::array({ip});
    spec["ipFamilies"] = Json::array({"IPv4"});
    spec["ipFamilyPolicy"] = "SingleStack";
  }
  if (spec.contains("ports") && spec["ports"].is_array()) {
    for (Json& p : spec["ports"]) {
      if (!p.is_object()) continue;
      if (!p.contains("protocol")) p["protocol"] = "TCP";
      if (!p.contains("targetPort") && p.contains("port")) p["targetPort"] = p["port"];
    }
  }
  if (!svc.contains("status")) svc["status"] = {{"loadBalancer", Json::object()}};
}

}  // namespace

uint32_t stableHash(std::string_view s) {
  uint32_t h = 2166136261u;  // FNV-1a
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619u;
  }
  return h;
}

absl::Status validateWrite(const ResourceType& type, Json& object, const Json* old) {
  if (!type.group.empty() || type.resource != "secrets") return absl::OkStatus();
  std::string name;
  if (object.contains("metadata") && object["metadata"].is_object())
    name = object["metadata"].value("name", "");
  if (object.contains("stringData")) {
    if (object["stringData"].is_object()) {
      if (!object.contains("data") || !object["data"].is_object()) object["data"] = Json::object();
      for (auto& [k, v] : object["stringData"].items()) {
        if (!v.is_string()) continue;
        std::string text = v.get<std::string>();
        object["data"][k] = absl::Base64Escape(absl::string_view(text.data(), text.size()));
      }
    }
    object.erase("stringData");
  }
  std::string secret_type = object.value("type", std::string("Opaque"));
  if (old != nullptr) {
    std::string old_type = old->value("type", std::string("Opaque"));
    if (secret_type != old_type) {
      return invalid("Secret", name, "type", "FieldValueInvalid",
                     "Invalid value: \"" + secret_type + "\": field is immutable");
    }
  }
  if (secret_type == "kubernetes.io/tls") {
    const Json empty = Json::object();
    const Json& data =
        object.contains("data") && object["data"].is_object() ? object["data"] : empty;
    for (const char* key : {"tls.crt", "tls.key"}) {
      if (!data.contains(key)) {
        return invalid("Secret", name, std::string("data[") + key + "]", "FieldValueRequired",
                       "Required value");
      }
    }
  }
  return absl::OkStatus();
}

void applySimulatedControllers(const ResourceType& type, Json& object) {
  if (!type.group.empty()) {
    if (type.resource == "deployments") defaultDeployment(object);
    return;
  }
  if (type.resource == "pods") {
    defaultPod(object);
  } else if (type.resource == "namespaces") {
    defaultNamespace(object);
  } else if (type.resource == "services") {
    defaultService(object);
  } else if (type.resource == "secrets") {
    if (!object.contains("type")) object["type"] = "Opaque";
  }
}

}  // namespace kubehub::standin
