#pragma once
/// The resource types the stand-in serves (core/v1, apps/v1, one custom resource), with what
/// discovery publishes about them and the columns their server-side Tables print. Immutable
/// after construction; safe to share between threads.

#include <string>
#include <vector>

#include "tests/standin/api_error.h"

namespace kubehub::standin {

/// One column of a server-side printed Table (metav1.TableColumnDefinition).
struct ColumnDef {
  std::string name;
  std::string type;
  std::string format;
  std::string description;
  int priority = 0;
  /// For custom resources: the JSONPath of an additionalPrinterColumn (".spec.color").
  std::string json_path;
};

/// A subresource as published in discovery ("pods/log").
struct Subresource {
  std::string name;     // "log"
  std::string kind;     // "Pod", "Scale"
  std::string group;    // set when the subresource's kind lives in another group (Scale)
  std::string version;  // ditto
  std::vector<std::string> verbs;
};

struct ResourceType {
  std::string group;     // "" for core
  std::string version;   // "v1"
  std::string resource;  // plural, "pods"
  std::string singular;  // "pod"
  std::string kind;      // "Pod"
  bool namespaced = true;
  bool custom = false;                 // a custom resource (served like a CRD: merge patches only)
  bool has_generation = false;         // metadata.generation bumps on spec changes
  bool has_status = false;             // status is only written through the /status subresource
  bool return_deleted_object = false;  // DELETE answers the object instead of a Status
  bool review_only = false;            // create-only review APIs (selfsubjectreviews): never stored
  std::vector<std::string> verbs;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  std::vector<Subresource> subresources;
  std::vector<ColumnDef> columns;
  /// Field selector labels the type supports beyond metadata.name/metadata.namespace.
  std::vector<std::string> field_labels;

  std::string apiVersion() const { return group.empty() ? version : group + "/" + version; }
  std::string listKind() const { return kind + "List"; }
  GroupResource groupResource() const { return GroupResource{group, resource}; }
  bool hasSubresource(std::string_view name) const;
};

/// The fixed set of served types. Index positions are stable and used as type ids.
class ResourceRegistry {
 public:
  ResourceRegistry();

  const std::vector<ResourceType>& types() const { return types_; }
  const ResourceType& type(int id) const { return types_[static_cast<size_t>(id)]; }
  /// The id of group/version/resource, or -1.
  int find(std::string_view group, std::string_view version, std::string_view resource) const;
  int findByKind(std::string_view api_version, std::string_view kind) const;

  /// Group names in discovery order (without the core group).
  std::vector<std::string> groups() const;

 private:
  std::vector<ResourceType> types_;
};

}  // namespace kubehub::standin
