#pragma once
/// Kubernetes API errors carried inside absl::Status: the stand-in's pure logic returns
/// absl::Status, and the exact `Status` body a real API server would send (reason, details,
/// message) travels with it as a payload, so the HTTP layer never has to guess.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace kubehub::standin {

/// What a resource is called in messages and in Status details ("pods", "deployments.apps").
struct GroupResource {
  std::string group;
  std::string resource;
  /// "pods" for the core group, "deployments.apps" otherwise, as the real server prints it.
  std::string qualified() const { return group.empty() ? resource : resource + "." + group; }
};

/// A Status error with an explicit body. `body` must be a metav1.Status object.
absl::Status apiError(int code, const nlohmann::json& body);

/// A Status error with reason and message, no details.
absl::Status apiError(int code, std::string_view reason, std::string_view message);

absl::Status notFound(const GroupResource& gr, std::string_view name);
absl::Status alreadyExists(const GroupResource& gr, std::string_view name);
/// 409 Conflict: the object has been modified (stale resourceVersion).
absl::Status conflict(const GroupResource& gr, std::string_view name);
absl::Status badRequest(std::string_view message);
/// 410 Expired with the given message (too old resource version, expired continue).
absl::Status expired(std::string_view message);
/// 422 Invalid for `kind "name"` with one field cause.
absl::Status invalid(std::string_view kind, std::string_view name, std::string_view field,
                     std::string_view cause_type, std::string_view detail);
absl::Status methodNotSupported(const GroupResource& gr, std::string_view verb);

/// The HTTP code and Status body (JSON text) for any status; non-API errors become a plain
/// Status with the code absl maps to.
struct ErrorResponse {
  int code = 500;
  std::string body;
};
ErrorResponse toErrorResponse(const absl::Status& status);

/// The Status JSON object for an error (used inside watch ERROR events).
nlohmann::json errorStatusJson(const absl::Status& status);

}  // namespace kubehub::standin
