#include "tests/standin/api_error.h"

#include <optional>

#include "common/k8s/api_error.h"
#include "common/k8s/status_body.h"

namespace kubehub::standin {
namespace {

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

absl::Status apiError(int code, const nlohmann::json& body) { return k8s::apiError(code, body); }

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
  if (auto body = k8s::apiErrorBody(status)) return ErrorResponse{body->code, body->body};
  int code = k8s::httpCodeFor(status);
  absl::string_view msg = status.message();
  return ErrorResponse{code, k8s::statusBody(code, std::string_view(msg.data(), msg.size()))};
}

nlohmann::json errorStatusJson(const absl::Status& status) {
  ErrorResponse r = toErrorResponse(status);
  return nlohmann::json::parse(r.body, nullptr, false);
}

}  // namespace kubehub::standin
