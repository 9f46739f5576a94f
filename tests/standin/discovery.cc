#include "tests/standin/discovery.h"

#include "tests/standin/json_types.h"
#include "tests/standin/simulated_controllers.h"

namespace kubehub::standin {
namespace {

Json groupVersionJson(const std::string& group, const std::string& version) {
  return Json{{"groupVersion", group + "/" + version}, {"version", version}};
}

Json groupJson(const std::string& name) {
  return Json{{"name", name},
              {"versions", Json::array({groupVersionJson(name, "v1")})},
              {"preferredVersion", groupVersionJson(name, "v1")}};
}

std::string gvPath(const ResourceType& t) {
  return t.group.empty() ? "api/v1" : "apis/" + t.group + "/" + t.version;
}

Json param(const char* name, const char* in, const char* description, bool required = false) {
  Json p = {{"name", name},
            {"in", in},
            {"description", description},
            {"schema", {{"type", "string"}, {"uniqueItems", true}}}};
  if (required) p["required"] = true;
  return p;
}

// The schema name the real server uses: io.k8s.api.core.v1.Pod, com.example.v1.Widget.
std::string schemaName(const ResourceType& t) {
  if (t.custom) {
    std::string reversed;
    std::string g = t.group;
    while (!g.empty()) {
      size_t dot = g.rfind('.');
      std::string part = dot == std::string::npos ? g : g.substr(dot + 1);
      reversed += (reversed.empty() ? "" : ".") + part;
      g = dot == std::string::npos ? "" : g.substr(0, dot);
    }
    return reversed + "." + t.version + "." + t.kind;
  }
  std::string group = t.group.empty() ? "core" : t.group.substr(0, t.group.find('.'));
  return "io.k8s.api." + group + "." + t.version + "." + t.kind;
}

Json prop(const char* type, const char* description) {
  return Json{{"type", type}, {"description", description}};
}

Json refProp(const std::string& schema, const char* description) {
  return Json{{"description", description},
              {"allOf", Json::array({Json{{"$ref", "#/components/schemas/" + schema}}})}};
}

// Small but real-shaped schemas, enough for `kubectl explain` of the served types.
Json schemas(const ResourceRegistry& registry, const std::string& gv_path) {
  Json out = Json::object();
  out["io.k8s.apimachinery.pkg.apis.meta.v1.Patch"] = {
      {"description",
       "Patch is provided to give a concrete name and type to the Kubernetes PATCH request "
       "body."},
      {"type", "object"}};
  out["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"] = {
      {"description",
       "ObjectMeta is metadata that all persisted resources must have, which "
       "includes all objects users must create."},
      {"type", "object"},
      {"properties",
       {{"name", prop("string", "Name must be unique within a namespace.")},
        {"namespace", prop("string",
                           "Namespace defines the space within which each name must "
                           "be unique.")},
        {"labels",
         {{"type", "object"},
          {"description",
           "Map of string keys and values that can be used to organize "
           "and categorize (scope and select) objects."},
          {"additionalProperties", {{"type", "string"}, {"default", ""}}}}},
        {"annotations",
         {{"type", "object"},
          {"description",
           "Annotations is an unstructured key value map stored "
           "with a resource."},
          {"additionalProperties", {{"type", "string"}, {"default", ""}}}}},
        {"resourceVersion", prop("string",
                                 "An opaque value that represents the internal "
                                 "version of this object.")},
        {"uid", prop("string", "UID is the unique in time and space value for this object.")},
        {"creationTimestamp", prop("string",
                                   "CreationTimestamp is a timestamp representing "
                                   "the server time when this object was created.")},
        {"generation", prop("integer",
                            "A sequence number representing a specific generation "
                            "of the desired state.")}}}};
  out["io.k8s.api.core.v1.Container"] = {
      {"description", "A single application container that you want to run within a pod."},
      {"type", "object"},
      {"required", Json::array({"name"})},
      {"properties",
       {{"name", prop("string", "Name of the container specified as a DNS_LABEL.")},
        {"image", prop("string", "Container image name.")},
        {"command",
         {{"type", "array"},
          {"description", "Entrypoint array."},
          {"items", {{"type", "string"}, {"default", ""}}}}},
        {"args",
         {{"type", "array"},
          {"description", "Arguments to the entrypoint."},
          {"items", {{"type", "string"}, {"default", ""}}}}}}}};
  out["io.k8s.api.core.v1.PodSpec"] = {
      {"description", "PodSpec is a description of a pod."},
      {"type", "object"},
      {"required", Json::array({"containers"})},
      {"properties",
       {{"containers",
         {{"type", "array"},
          {"description", "List of containers belonging to the pod."},
          {"items",
           {{"default", Json::object()},
            {"allOf",
             Json::array({Json{{"$ref", "#/components/schemas/io.k8s.api.core.v1.Container"}}})}}},
          {"x-kubernetes-patch-merge-key", "name"},
          {"x-kubernetes-patch-strategy", "merge"}}},
        {"nodeName", prop("string", "NodeName indicates in which node this pod is scheduled.")},
        {"restartPolicy", prop("string", "Restart policy for all containers within the pod.")}}}};
  for (const ResourceType& t : registry.types()) {
    if (gvPath(t) != gv_path) continue;
    Json properties = {{"apiVersion", prop("string",
                                           "APIVersion defines the versioned schema of this "
                                           "representation of an object.")},
                       {"kind", prop("string",
                                     "Kind is a string value representing the REST resource this "
                                     "object represents.")},
                       {"metadata", refProp("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
                                            "Standard object's metadata.")}};
    if (t.resource == "pods") {
      properties["spec"] = refProp("io.k8s.api.core.v1.PodSpec",
                                   "Specification of the desired behavior of the pod.");
      properties["status"] = prop("object", "Most recently observed status of the pod.");
    } else if (t.resource == "configmaps" || t.resource == "secrets") {
      properties["data"] = {{"type", "object"},
                            {"description", "Data contains the " + t.singular + " data."},
                            {"additionalProperties", {{"type", "string"}, {"default", ""}}}};
    } else if (t.custom) {
      properties["spec"] = {{"type", "object"},
                            {"description", "The widget's desired state."},
                            {"properties",
                             {{"color", prop("string", "The widget's colour.")},
                              {"size", prop("integer", "The widget's size.")}}}};
    } else if (!t.review_only || t.resource != "selfsubjectreviews") {
      properties["spec"] = prop("object", "Spec defines the desired state.");
      properties["status"] = prop("object", "Status is the most recently observed state.");
    }
    out[schemaName(t)] = {
        {"description", t.custom ? "A Widget, served like a custom resource."
                                 : t.kind + " as served by the kubehub stand-in."},
        {"type", "object"},
        {"properties", properties},
        {"x-kubernetes-group-version-kind",
         Json::array({Json{{"group", t.group}, {"kind", t.kind}, {"version", t.version}}})}};
  }
  return out;
}

Json operation(const ResourceType& t, const char* action, const std::string& op_id,
               const std::string& description) {
  Json gvk = {{"group", t.group}, {"version", t.version}, {"kind", t.kind}};
  Json ref = {{"$ref", "#/components/schemas/" + schemaName(t)}};
  Json op = {
      {"tags", Json::array({(t.group.empty() ? std::string("core") : t.group) + "_" + t.version})},
      {"description", description},
      {"operationId", op_id},
      {"responses",
       {{"200", {{"description", "OK"}, {"content", {{"application/json", {{"schema", ref}}}}}}},
        {"401", {{"description", "Unauthorized"}}}}},
      {"x-kubernetes-action", action},
      {"x-kubernetes-group-version-kind", gvk}};
  return op;
}

}  // namespace

Discovery::Discovery(const ResourceRegistry& registry) : registry_(registry) {
  version_ = dumpJson(Json{{"major", "1"},
                           {"minor", "32"},
                           {"gitVersion", kGitVersion},
                           {"gitCommit", "59526cd4867447956156ae3a602fcbac5b2c9f9b"},
                           {"gitTreeState", "clean"},
                           {"buildDate", "2025-04-22T16:02:27Z"},
                           {"goVersion", "go1.23.8"},
                           {"compiler", "gc"},
                           {"platform", "linux/amd64"}});
  api_versions_ = dumpJson(Json{
      {"kind", "APIVersions"},
      {"versions", Json::array({"v1"})},
      {"serverAddressByClientCIDRs",
       Json::array({Json{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", "10.0.0.11:6443"}}})}});
  Json groups = Json::array();
  for (const std::string& g : registry_.groups()) groups.push_back(groupJson(g));
  group_list_ = dumpJson(Json{{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}});

  Json paths = Json::object();
  std::string last;
  for (const ResourceType& t : registry_.types()) {
    std::string p = gvPath(t);
    if (paths.contains(p)) continue;
    // The hash lets clients cache the document; any stable value works.
    char hash[17];
    std::snprintf(hash, sizeof(hash), "%08X%08X", stableHash(p), stableHash(p + "v1.32.4"));
    paths[p] = {{"serverRelativeURL", "/openapi/v3/" + p + "?hash=" + hash}};
  }
  openapi_index_ = dumpJson(Json{{"paths", paths}});
}

std::optional<std::string> Discovery::group(std::string_view name) const {
  for (const std::string& g : registry_.groups()) {
    if (g == name) {
      Json j = groupJson(g);
      Json out = {{"kind", "APIGroup"}, {"apiVersion", "v1"}};
      for (auto it = j.begin(); it != j.end(); ++it) out[it.key()] = it.value();
      return dumpJson(out);
    }
  }
  return std::nullopt;
}

std::optional<std::string> Discovery::resourceList(std::string_view group,
                                                   std::string_view version) const {
  Json resources = Json::array();
  bool found = false;
  for (const ResourceType& t : registry_.types()) {
    if (t.group != group || t.version != version) continue;
    found = true;
    Json r = {{"name", t.resource},
              {"singularName", t.singular},
              {"namespaced", t.namespaced},
              {"kind", t.kind},
              {"verbs", t.verbs}};
    if (!t.short_names.empty()) r["shortNames"] = t.short_names;
    if (!t.categories.empty()) r["categories"] = t.categories;
    if (!t.review_only) {
      char hash[17];
      std::snprintf(hash, sizeof(hash), "%08x", stableHash(t.apiVersion() + t.kind));
      r["storageVersionHash"] = std::string(hash).substr(0, 8) + "abc=";
    }
    resources.push_back(r);
    for (const Subresource& s : t.subresources) {
      Json sr = {
          {"name", t.resource + "/" + s.name}, {"singularName", ""}, {"namespaced", t.namespaced}};
      if (!s.group.empty()) sr["group"] = s.group;
      if (!s.version.empty()) sr["version"] = s.version;
      sr["kind"] = s.kind;
      sr["verbs"] = s.verbs;
      resources.push_back(sr);
    }
  }
  if (!found) return std::nullopt;
  std::string gv =
      group.empty() ? std::string(version) : std::string(group) + "/" + std::string(version);
  Json out = {{"kind", "APIResourceList"}};
  if (!group.empty()) out["apiVersion"] = "v1";
  out["groupVersion"] = gv;
  out["resources"] = resources;
  return dumpJson(out);
}

std::optional<std::string> Discovery::openapiV3(std::string_view path) const {
  Json paths = Json::object();
  bool found = false;
  for (const ResourceType& t : registry_.types()) {
    if (gvPath(t) != path) continue;
    found = true;
    const std::string base =
        "/" + gvPath(t) + (t.namespaced ? "/namespaces/{namespace}/" : "/") + t.resource;
    const std::string kind = t.kind;
    std::string group_camel = t.group.empty() ? "Core" : "";
    if (!t.group.empty()) {
      std::string g = t.group.substr(0, t.group.find('.'));
      group_camel = std::string(1, static_cast<char>(std::toupper(g[0]))) + g.substr(1);
    }
    const std::string scope = t.namespaced ? "Namespaced" : "";
    const std::string suffix = group_camel + "V1" + scope + kind;
    if (t.review_only) {
      Json create = operation(t, "post", "create" + suffix, "create a " + kind);
      create["parameters"] = Json::array(
          {param("dryRun", "query",
                 "When present, indicates that modifications should not be "
                 "persisted."),
           param("fieldManager", "query",
                 "fieldManager is a name associated with the actor or "
                 "entity that is making these changes."),
           param("fieldValidation", "query",
                 "fieldValidation instructs the server on how to handle objects in the request "
                 "(POST/PUT/PATCH) containing unknown or duplicate fields.")});
      paths["/" + gvPath(t) + "/" + t.resource] = {{"post", create}};
      continue;
    }
    Json write_params = Json::array(
        {param("dryRun", "query",
               "When present, indicates that modifications should not be persisted. An invalid "
               "or unrecognized dryRun directive will result in an error response and no "
               "further processing of the request. Valid values are: - All: all dry run stages "
               "will be processed"),
         param("fieldManager", "query",
               "fieldManager is a name associated with the actor or entity that is making "
               "these changes."),
         param("fieldValidation", "query",
               "fieldValidation instructs the server on how to handle objects in the request "
               "(POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - "
               "Ignore - Warn - Strict")});
    Json patch_params = write_params;
    patch_params.push_back(param("force", "query",
                                 "Force is going to \"force\" Apply requests. It means user will "
                                 "re-acquire conflicting fields owned by other people."));
    Json item_params = Json::array({param("name", "path", ("name of the " + kind).c_str(), true)});
    if (t.namespaced) {
      item_params.push_back(param(
          "namespace", "path", "object name and auth scope, such as for teams and projects", true));
    }
    item_params.push_back(
        param("pretty", "query", "If 'true', then the output is pretty printed."));

    Json get = operation(t, "get", "read" + suffix, "read the specified " + kind);
    Json put = operation(t, "put", "replace" + suffix, "replace the specified " + kind);
    put["parameters"] = write_params;
    Json patch = operation(t, "patch", "patch" + suffix, "partially update the specified " + kind);
    patch["parameters"] = patch_params;
    Json patch_schema = {
        {"schema", {{"$ref", "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"}}}};
    // Media types of a custom resource's PATCH (no strategic merge): kubectl then computes
    // strategic merge patches for built-in types from its compiled-in types, which needs no
    // schema documents here.
    patch["requestBody"] = {{"content",
                             {{"application/json-patch+json", patch_schema},
                              {"application/merge-patch+json", patch_schema},
                              {"application/apply-patch+yaml", patch_schema}}},
                            {"required", true}};
    Json del = operation(t, "delete", "delete" + suffix, "delete " + kind);
    paths[base + "/{name}"] = {
        {"get", get}, {"put", put}, {"delete", del}, {"patch", patch}, {"parameters", item_params}};

    Json list = operation(t, "list", "list" + suffix, "list or watch objects of kind " + kind);
    Json create = operation(t, "post", "create" + suffix, "create " + kind);
    create["parameters"] = write_params;
    Json coll_params = Json::array();
    if (t.namespaced) {
      coll_params.push_back(param(
          "namespace", "path", "object name and auth scope, such as for teams and projects", true));
    }
    paths[base] = {{"get", list}, {"post", create}, {"parameters", coll_params}};
  }
  if (!found) return std::nullopt;
  Json doc = {{"openapi", "3.0.0"},
              {"info", {{"title", "Kubernetes"}, {"version", kGitVersion}}},
              {"paths", paths},
              {"components",
               {{"schemas", schemas(registry_, std::string(path))},
                {"securitySchemes",
                 {{"BearerToken",
                   {{"type", "apiKey"},
                    {"description", "Bearer Token authentication"},
                    {"name", "authorization"},
                    {"in", "header"}}}}}}}};
  return dumpJson(doc);
}

}  // namespace kubehub::standin
