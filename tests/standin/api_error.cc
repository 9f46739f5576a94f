#include "tests/standin/api_error.h"

#include <optional>

#include "absl/strings/cord.h"
#include "common/k8s/status_body.h"

namespace kubehub::standin {
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

nlohmann::json details(const GroupResource& gr, std::string_view name) {
  nlohmann::json d = {{"name", std::string(name)}};
  if (!gr.group.empty()) d["group"] = gr.group;
  d["kind"] = gr.resource;
  return d;
}

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

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

absl::Status notFound(const GroupResource& gr, std::string_view name) {
  auto body = baseStatus(404, "NotFound", gr.qualified() + " " + quoted(name) + " not found");
  body["details"] = details(gr, name);
  return apiError(404, body);
}

absl::Status alreadyExists(const GroupResource& gr, std::string_view name) {
  auto body =
      baseStatus(409, "AlreadyExists", gr.qualified() + " " + quoted(name) + " already exists");
  body["details"] = details(gr, name);
  return apiError(409, body);
}

absl::Status conflict(const GroupResource& gr, std::string_view name) {
  auto body = baseStatus(409, "Conflict",
                         "Operation cannot be fulfilled on " + gr.qualified() + " " + quoted(name) +
                             ": the object has been modified; please apply your changes to the "
                             "latest version and try again");
  body["details"] = details(gr, name);
  return apiError(409, body);
}

absl::Status badRequest(std::string_view message) { return apiError(400, "BadRequest", message); }

absl::Status expired(std::string_view message) { return apiError(410, "Expired", message); }

absl::Status invalid(std::string_view kind, std::string_view name, std::string_view field,
                     std::string_view cause_type, std::string_view detail) {
  std::string msg = std::string(kind) + " " + quoted(name) + " is invalid: " + std::string(field) +
                    ": " + std::string(detail);
  auto body = baseStatus(422, "Invalid", msg);
  body["details"] = {{"name", std::string(name)},
                     {"kind", std::string(kind)},
                     {"causes",
                      {{{"reason", std::string(cause_type)},
                        {"message", std::string(detail)},
                        {"field", std::string(field)}}}}};
  return apiError(422, body);
}

absl::Status methodNotSupported(const GroupResource& gr, std::string_view verb) {
  auto body = baseStatus(405, "MethodNotAllowed",
                         "the server does not allow this method on the requested resource");
  body["details"] = {{"group", gr.group}, {"kind", gr.resource}};
  (void)verb;
  return apiError(405, body);
}

ErrorResponse toErrorResponse(const absl::Status& status) {
  auto payload = status.GetPayload(kPayloadUrl);
  if (payload.has_value()) {
    std::string text(*payload);
    size_t nl = text.find('\n');
    ErrorResponse r;
    r.code = std::atoi(text.substr(0, nl).c_str());
    r.body = text.substr(nl + 1);
    return r;
  }
  int code = k8s::httpCodeFor(status);
  absl::string_view msg = status.message();
  return ErrorResponse{code, k8s::statusBody(code, std::string_view(msg.data(), msg.size()))};
}

nlohmann::json errorStatusJson(const absl::Status& status) {
  ErrorResponse r = toErrorResponse(status);
  return nlohmann::json::parse(r.body, nullptr, false);
}

}  // namespace kubehub::standin
