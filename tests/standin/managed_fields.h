#pragma once
/// metadata.managedFields as the API server keeps them: one entry per (manager, operation,
/// subresource) with the set of fields it owns in the FieldsV1 form (`{"f:spec":{"f:replicas":
/// {}}}`, list elements keyed as `k:{"name":"web"}`, `.` for the element or map itself). A write
/// gives its manager the fields it changed and takes them from every other entry; fields it
/// removed leave every entry; an entry left with nothing is dropped.
///
/// Differences from the real structured-merge-diff: no schema, so which lists are keyed (by
/// `name`, `type`, `containerPort`+`protocol`, `port`+`protocol`, `ip`, `devicePath`, `mountPath`)
/// and which maps carry `.` are decided by shape; conflicts of server-side apply are not
/// detected. What matters for clients and the hub is there: every object carries the entries,
/// of realistic size, and they change as objects are written. Pure.

#include <string>

#include "tests/standin/json_types.h"

namespace kubehub::standin {

struct FieldManager {
  /// `fieldManager` of the request, or the client's User-Agent up to its first `/`.
  std::string manager;
  /// "Update" or "Apply" (a server-side apply patch).
  std::string operation = "Update";
  /// "" or "status" (writes through the status subresource).
  std::string subresource;
};

/// The manager named in a request: `fieldManager` when given, else the User-Agent's program
/// name as the API server derives it.
std::string managerName(const std::string& field_manager, const std::string& user_agent);

/// Updates the managedFields `object` carries for a write by `who` that turned `old` (nullptr
/// on create) into `object`. The caller first puts the entries the write starts from into
/// `object` (`old`'s: what a client sent is not trusted). `api_version` is the object's
/// apiVersion; `time` an RFC 3339 timestamp.
void recordManagedFields(Json& object, const Json* old, const FieldManager& who,
                         const std::string& api_version, const std::string& time);

}  // namespace kubehub::standin
