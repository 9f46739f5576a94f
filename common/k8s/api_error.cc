#include "common/k8s/api_error.h"

#include <cstdlib>

#include "absl/strings/cord.h"

namespace kubehub::k8s {

namespace {

constexpr absl::string_view kPayloadUrl = "type.kubehub.io/k8s-status";

absl::StatusCode absCodeFor(int code) {
  switch (code) {
    case 400:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 409:
      return absl::StatusCode::kAlreadyExists;
    case 410:
      return absl::StatusCode::kOutOfRange;
    case 422:
      return absl::StatusCode::kFailedPrecondition;
    case 429:
      return absl::StatusCode::kResourceExhausted;
    case 503:
      return absl::StatusCode::kUnavailable;
    case 504:
      return absl::StatusCode::kDeadlineExceeded;
    default:
      return code >= 500 ? absl::StatusCode::kInternal : absl::StatusCode::kInvalidArgument;
  }
}

nlohmann::json baseStatus(int code, std::string_view reason, std::string_view message) {
  return nlohmann::json{{"kind", "Status"},
                        {"apiVersion", "v1"},
                        {"metadata", nlohmann::json::object()},
                        {"status", "Failure"},
                        {"message", std::string(message)},
                        {"reason", std::string(reason)},
                        {"code", code}};
}

}  // namespace

absl::Status apiError(int code, const nlohmann::json& body) {
  std::string text = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  absl::Status s(absCodeFor(code), body.value("message", std::string()));
  s.SetPayload(kPayloadUrl, absl::Cord(std::to_string(code) + "\n" + text));
  return s;
}

absl::Status apiError(int code, std::string_view reason, std::string_view message) {
  return apiError(code, baseStatus(code, reason, message));
}

absl::Status badRequest(std::string_view message) { return apiError(400, "BadRequest", message); }

absl::Status invalid(std::string_view group, std::string_view kind, std::string_view name,
                     const std::vector<FieldError>& errors) {
  std::string qualified(kind);
  if (!group.empty()) qualified += "." + std::string(group);
  std::string message = qualified + " " + goQuote(name) + " is invalid";
  std::vector<std::string> texts;
  nlohmann::json causes = nlohmann::json::array();
  for (const FieldError& e : errors) {
    texts.push_back(e.str());
    causes.push_back({{"reason", e.type}, {"message", e.body}, {"field", e.field}});
  }
  if (!texts.empty()) message += ": " + aggregate(texts);
  nlohmann::json body = baseStatus(422, "Invalid", message);
  nlohmann::json details = nlohmann::json::object();
  if (!name.empty()) details["name"] = std::string(name);
  if (!group.empty()) details["group"] = std::string(group);
  details["kind"] = std::string(kind);
  details["causes"] = causes;
  body["details"] = details;
  return apiError(422, body);
}

std::optional<ApiErrorBody> apiErrorBody(const absl::Status& status) {
  auto payload = status.GetPayload(kPayloadUrl);
  if (!payload.has_value()) return std::nullopt;
  std::string text(*payload);
  size_t nl = text.find('\n');
  if (nl == std::string::npos) return std::nullopt;
  return ApiErrorBody{std::atoi(text.substr(0, nl).c_str()), text.substr(nl + 1)};
}

}  // namespace kubehub::k8s
