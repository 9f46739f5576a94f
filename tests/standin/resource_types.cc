#include "tests/standin/resource_types.h"

#include <algorithm>

namespace kubehub::standin {
namespace {

// Descriptions as the real server publishes them (the swagger docs of the fields).
constexpr char kNameDoc[] =
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
constexpr char kAgeDoc[] =
    "CreationTimestamp is a timestamp representing the server time when this object was "
    "created. It is not guaranteed to be set in happens-before order across separate "
    "operations. Clients may not set this value. It is represented in RFC3339 form and is in "
    "UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/"
    "api-conventions.md#metadata";

ColumnDef nameCol() { return ColumnDef{"Name", "string", "name", kNameDoc, 0, ""}; }
ColumnDef ageCol() { return ColumnDef{"Age", "string", "", kAgeDoc, 0, ""}; }
ColumnDef col(std::string name, std::string doc, int priority = 0, std::string type = "string") {
  return ColumnDef{std::move(name), std::move(type), "", std::move(doc), priority, ""};
}

const std::vector<std::string> kAllVerbs = {"create", "delete", "deletecollection", "get",
                                            "list",   "patch",  "update",           "watch"};

}  // namespace

bool ResourceType::hasSubresource(std::string_view name) const {
  return std::any_of(subresources.begin(), subresources.end(),
                     [&](const Subresource& s) { return s.name == name; });
}

ResourceRegistry::ResourceRegistry() {
  {
    ResourceType t;
    t.version = "v1";
    t.resource = "namespaces";
    t.singular = "namespace";
    t.kind = "Namespace";
    t.namespaced = false;
    t.has_status = true;
    t.return_deleted_object = true;
    t.verbs = {"create", "delete", "get", "list", "patch", "update", "watch"};
    t.short_names = {"ns"};
    t.subresources = {{"finalize", "Namespace", "", "", {"update"}},
                      {"status", "Namespace", "", "", {"get", "patch", "update"}}};
    t.columns = {nameCol(), col("Status", "The status of the namespace"), ageCol()};
    t.field_labels = {"status.phase"};
    types_.push_back(t);
  }
  {
    ResourceType t;
    t.version = "v1";
    t.resource = "nodes";
    t.singular = "node";
    t.kind = "Node";
    t.namespaced = false;
    t.has_status = true;
    t.verbs = kAllVerbs;
    t.short_names = {"no"};
    t.subresources = {{"status", "Node", "", "", {"get", "patch", "update"}}};
    t.columns = {nameCol(),
                 col("Status", "The status of the node"),
                 col("Roles", "The roles of the node"),
                 ageCol(),
                 col("Version", "Kubelet Version reported by the node."),
                 col("Internal-IP", "List of addresses reachable to the node.", 1),
                 col("External-IP", "List of addresses reachable to the node.", 1),
                 col("OS-Image",
                     "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux "
                     "7 (wheezy)).",
                     1),
                 col("Kernel-Version",
                     "Kernel Version reported by the node from 'uname -r' (e.g. "
                     "3.16.0-0.bpo.4-amd64).",
                     1),
                 col("Container-Runtime",
                     "ContainerRuntime Version reported by the node through runtime remote API "
                     "(e.g. containerd://1.4.2).",
                     1)};
    t.field_labels = {"spec.unschedulable"};
    types_.push_back(t);
  }
  {
    ResourceType t;
    t.version = "v1";
    t.resource = "pods";
    t.singular = "pod";
    t.kind = "Pod";
    t.has_status = true;
    t.return_deleted_object = true;
    t.verbs = kAllVerbs;
    t.short_names = {"po"};
    t.categories = {"all"};
    t.subresources = {
        {"attach", "PodAttachOptions", "", "", {"create", "get"}},
        {"exec", "PodExecOptions", "", "", {"create", "get"}},
        {"log", "Pod", "", "", {"get"}},
        {"portforward", "PodPortForwardOptions", "", "", {"create", "get"}},
        {"proxy", "PodProxyOptions", "", "", {"create", "delete", "get", "patch", "update"}},
        {"status", "Pod", "", "", {"get", "patch", "update"}}};
    t.columns = {
        nameCol(),
        col("Ready", "The aggregate readiness state of this pod for accepting traffic."),
        col("Status", "The aggregate status of the containers in this pod."),
        col("Restarts",
            "The number of times the containers in this pod have been restarted and when the "
            "last container in this pod has restarted."),
        ageCol(),
        col("IP",
            "podIP address allocated to the pod. Routable at least within the cluster. Empty if "
            "not yet allocated.",
            1),
        col("Node",
            "NodeName indicates in which node this pod is scheduled. If empty, this pod is a "
            "candidate for preemption by the scheduler.",
            1),
        col("Nominated Node",
            "nominatedNodeName is set only when this pod preempts other pods on the node, but "
            "it cannot be scheduled right away as preemption victims receive their graceful "
            "termination periods.",
            1),
        col("Readiness Gates",
            "If specified, all readiness gates will be evaluated for pod readiness.", 1)};
    t.field_labels = {
        "spec.nodeName",    "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
        "spec.hostNetwork", "status.phase",       "status.podIP",       "status.nominatedNodeName"};
    types_.push_back(t);
  }
  {
    ResourceType t;
    t.version = "v1";
    t.resource = "configmaps";
    t.singular = "configmap";
    t.kind = "ConfigMap";
    t.verbs = kAllVerbs;
    t.short_names = {"cm"};
    t.columns = {nameCol(),
                 col("Data",
                     "Data contains the configuration data. Each key must consist of "
                     "alphanumeric characters, '-', '_' or '.'."),
                 ageCol()};
    types_.push_back(t);
  }
  {
    ResourceType t;
    t.version = "v1";
    t.resource = "secrets";
    t.singular = "secret";
    t.kind = "Secret";
    t.verbs = kAllVerbs;
    t.columns = {nameCol(), col("Type", "Used to facilitate programmatic handling of secret data."),
                 col("Data",
                     "Data contains the secret data. Each key must consist of alphanumeric "
                     "characters, '-', '_' or '.'."),
                 ageCol()};
    t.field_labels = {"type"};
    types_.push_back(t);
  }
  {
    ResourceType t;
    t.version = "v1";
    t.resource = "services";
    t.singular = "service";
    t.kind = "Service";
    t.has_status = true;
    t.return_deleted_object = true;
    t.verbs = kAllVerbs;
    t.short_names = {"svc"};
    t.categories = {"all"};
    t.subresources = {
        {"proxy", "ServiceProxyOptions", "", "", {"create", "delete", "get", "patch", "update"}},
        {"status", "Service", "", "", {"get", "patch", "update"}}};
    t.columns = {nameCol(),
                 col("Type", "type determines how the Service is exposed."),
                 col("Cluster-IP", "clusterIP is the IP address of the service."),
                 col("External-IP",
                     "externalIPs is a list of IP addresses for which nodes in the cluster will "
                     "also accept traffic for this service."),
                 col("Port(s)", "The list of ports that are exposed by this service."),
                 ageCol(),
                 col("Selector",
                     "Route service traffic to pods with label keys and values matching this "
                     "selector.",
                     1)};
    types_.push_back(t);
  }
  {
    ResourceType t;
    t.version = "v1";
    t.resource = "events";
    t.singular = "event";
    t.kind = "Event";
    t.verbs = kAllVerbs;
    t.short_names = {"ev"};
    t.columns = {col("Last Seen",
                     "The time at which the most recent occurrence of this event "
                     "was recorded."),
                 col("Type",
                     "Type of this event (Normal, Warning), new types could be added "
                     "in the future"),
                 col("Reason",
                     "This should be a short, machine understandable string that "
                     "gives the reason for the transition into the object's current "
                     "status."),
                 col("Object", "The object that this event is about."),
                 col("Subobject",
                     "If referring to a piece of an object instead of an entire object, this "
                     "string should contain a valid JSON/Go field access statement.",
                     1),
                 col("Source", "The component reporting this event.", 1),
                 col("Message", "A human-readable description of the status of this operation."),
                 col("First Seen", "The time at which the event was first recorded.", 1),
                 col("Count", "The number of times this event has occurred.", 1),
                 ColumnDef{"Name", "string", "name", kNameDoc, 1, ""}};
    t.field_labels = {"involvedObject.kind",
                      "involvedObject.namespace",
                      "involvedObject.name",
                      "involvedObject.uid",
                      "involvedObject.apiVersion",
                      "involvedObject.resourceVersion",
                      "involvedObject.fieldPath",
                      "reason",
                      "reportingComponent",
                      "source",
                      "type"};
    types_.push_back(t);
  }
  {
    ResourceType t;
    t.group = "apps";
    t.version = "v1";
    t.resource = "deployments";
    t.singular = "deployment";
    t.kind = "Deployment";
    t.has_generation = true;
    t.has_status = true;
    t.verbs = kAllVerbs;
    t.short_names = {"deploy"};
    t.categories = {"all"};
    t.subresources = {{"scale", "Scale", "autoscaling", "v1", {"get", "patch", "update"}},
                      {"status", "Deployment", "", "", {"get", "patch", "update"}}};
    t.columns = {nameCol(),
                 col("Ready", "Number of the pod with ready state"),
                 col("Up-to-date",
                     "Total number of non-terminating pods targeted by this deployment that "
                     "have the desired template spec."),
                 col("Available",
                     "Total number of available non-terminating pods (ready for at least "
                     "minReadySeconds) targeted by this deployment."),
                 ageCol(),
                 col("Containers", "Names of each container in the template.", 1),
                 col("Images", "Images referenced by each container in the template.", 1),
                 col("Selector",
                     "Label selector for pods. Existing ReplicaSets whose pods are selected by "
                     "this will be the ones affected by this deployment. It must match the pod "
                     "template's labels.",
                     1)};
    types_.push_back(t);
  }
  {
    // A custom resource, served as if its CustomResourceDefinition declared these
    // additionalPrinterColumns.
    ResourceType t;
    t.group = "example.com";
    t.version = "v1";
    t.resource = "widgets";
    t.singular = "widget";
    t.kind = "Widget";
    t.custom = true;
    t.has_generation = true;
    t.return_deleted_object = true;
    t.verbs = {"delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"};
    t.short_names = {"wd"};
    t.categories = {"all"};
    t.columns = {nameCol(),
                 ColumnDef{"Color", "string", "", "The widget's colour", 0, ".spec.color"},
                 ColumnDef{"Size", "integer", "", "The widget's size", 0, ".spec.size"},
                 ColumnDef{"Age", "date", "", kAgeDoc, 0, ".metadata.creationTimestamp"}};
    types_.push_back(t);
  }
  {
    ResourceType t;
    t.group = "authentication.k8s.io";
    t.version = "v1";
    t.resource = "selfsubjectreviews";
    t.singular = "selfsubjectreview";
    t.kind = "SelfSubjectReview";
    t.namespaced = false;
    t.review_only = true;
    t.verbs = {"create"};
    types_.push_back(t);
  }
  {
    ResourceType t;
    t.group = "authorization.k8s.io";
    t.version = "v1";
    t.resource = "selfsubjectaccessreviews";
    t.singular = "selfsubjectaccessreview";
    t.kind = "SelfSubjectAccessReview";
    t.namespaced = false;
    t.review_only = true;
    t.verbs = {"create"};
    types_.push_back(t);
  }
  {
    ResourceType t;
    t.group = "authorization.k8s.io";
    t.version = "v1";
    t.resource = "selfsubjectrulesreviews";
    t.singular = "selfsubjectrulesreview";
    t.kind = "SelfSubjectRulesReview";
    t.namespaced = false;
    t.review_only = true;
    t.verbs = {"create"};
    types_.push_back(t);
  }
  {
    // What every kubelet renews every 10 s (kube-node-lease/<node>): on a real cluster the
    // resourceVersion never rests for long, whatever else is quiet.
    ResourceType t;
    t.group = "coordination.k8s.io";
    t.version = "v1";
    t.resource = "leases";
    t.singular = "lease";
    t.kind = "Lease";
    t.verbs = kAllVerbs;
    t.columns = {nameCol(),
                 col("Holder",
                     "holderIdentity contains the identity of the holder of a current lease. If "
                     "Coordinated Leader Election is used, the holder identity must be equal to "
                     "the elected LeaseCandidate.metadata.name field."),
                 ageCol()};
    types_.push_back(t);
  }
}

int ResourceRegistry::find(std::string_view group, std::string_view version,
                           std::string_view resource) const {
  for (size_t i = 0; i < types_.size(); ++i) {
    const ResourceType& t = types_[i];
    if (t.group == group && t.version == version && t.resource == resource) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

int ResourceRegistry::findByKind(std::string_view api_version, std::string_view kind) const {
  for (size_t i = 0; i < types_.size(); ++i) {
    if (types_[i].apiVersion() == api_version && types_[i].kind == kind) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

std::vector<std::string> ResourceRegistry::groups() const {
  std::vector<std::string> out;
  for (const ResourceType& t : types_) {
    if (!t.group.empty() && std::find(out.begin(), out.end(), t.group) == out.end()) {
      out.push_back(t.group);
    }
  }
  return out;
}

}  // namespace kubehub::standin
