#pragma once
/// Kubernetes API errors carried inside absl::Status: pure code returns absl::Status, and the
/// exact `Status` body the API server would send (code, reason, message, details) travels with
/// it as a payload, so whoever writes the HTTP answer never has to guess.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "common/k8s/validation.h"

namespace kubehub::k8s {

/// A Status error with an explicit body (a metav1.Status object).
absl::Status apiError(int code, const nlohmann::json& body);
/// A Status error with reason and message, no details.
absl::Status apiError(int code, std::string_view reason, std::string_view message);
/// 400 BadRequest with the message as is (errors.NewBadRequest).
absl::Status badRequest(std::string_view message);
/// 422 Invalid for `kind.group "name"` with field causes (errors.NewInvalid).
absl::Status invalid(std::string_view group, std::string_view kind, std::string_view name,
                     const std::vector<FieldError>& errors);

/// The HTTP code and Status body of an API error, or nullopt for a plain absl::Status.
struct ApiErrorBody {
  int code = 500;
  std::string body;
};
std::optional<ApiErrorBody> apiErrorBody(const absl::Status& status);

}  // namespace kubehub::k8s
