#include "tests/standin/continue_token.h"

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "tests/standin/api_error.h"

namespace kubehub::standin {

std::string ContinueToken::encode() const {
  nlohmann::json j = {{"v", "meta.k8s.io/v1"}, {"rv", rv}, {"start", after_key + '\0'}};
  std::string text = j.dump();
  return absl::WebSafeBase64Escape(absl::string_view(text.data(), text.size()));
}

absl::StatusOr<ContinueToken> ContinueToken::decode(std::string_view token) {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(absl::string_view(token.data(), token.size()), &raw)) {
    return badRequest("continue key is not valid: illegal base64 data");
  }
  nlohmann::json j = nlohmann::json::parse(raw, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return badRequest("continue key is not valid: not a JSON object");
  }
  if (j.value("v", std::string()) != "meta.k8s.io/v1") {
    return badRequest("continue key is not valid: server does not recognize this encoded key");
  }
  if (!j.contains("rv") || !j["rv"].is_number_integer() || !j.contains("start") ||
      !j["start"].is_string()) {
    return badRequest(
        "continue key is not valid: incorrect encoded start resourceVersion "
        "(version meta.k8s.io/v1)");
  }
  ContinueToken t;
  t.rv = j["rv"].get<int64_t>();
  t.after_key = j["start"].get<std::string>();
  if (t.rv == 0 || t.after_key.empty() || t.after_key.back() != '\0') {
    return badRequest(
        "continue key is not valid: incorrect encoded start resourceVersion "
        "(version meta.k8s.io/v1)");
  }
  t.after_key.pop_back();
  if (t.after_key.find("..") != std::string::npos) {
    return badRequest("continue key is not valid: key \"" + t.after_key + "\" is invalid");
  }
  return t;
}

}  // namespace kubehub::standin
