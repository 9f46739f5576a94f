#include "hub/auth/peer_identity.h"

#include <nlohmann/json.hpp>

namespace kubehub::hub {

using Json = nlohmann::json;

std::string encodePeerIdentity(const Principal& who) {
  Json j = {
      {"user", who.user},        {"tenant", who.tenant},        {"groups", who.groups},
      {"tokenId", who.token_id}, {"expiresAt", who.expires_at}, {"breakGlass", who.break_glass}};
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

absl::StatusOr<Principal> decodePeerIdentity(std::string_view value) {
  Json j = Json::parse(value, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return absl::InvalidArgumentError("not a JSON object");
  auto str = [&](const char* key, std::string* out) -> bool {
    if (!j.contains(key)) return true;
    if (!j[key].is_string()) return false;
    *out = j[key].get<std::string>();
    return true;
  };
  Principal p;
  if (!str("user", &p.user) || p.user.empty())
    return absl::InvalidArgumentError("user missing or not a string");
  if (!str("tenant", &p.tenant) || !str("tokenId", &p.token_id))
    return absl::InvalidArgumentError("tenant and tokenId must be strings");
  if (j.contains("groups")) {
    if (!j["groups"].is_array()) return absl::InvalidArgumentError("groups must be an array");
    for (const auto& g : j["groups"]) {
      if (!g.is_string()) return absl::InvalidArgumentError("groups must be strings");
      p.groups.push_back(g.get<std::string>());
    }
  }
  if (j.contains("expiresAt")) {
    if (!j["expiresAt"].is_number_integer())
      return absl::InvalidArgumentError("expiresAt must be an integer");
    p.expires_at = j["expiresAt"].get<int64_t>();
  }
  if (j.contains("breakGlass")) {
    if (!j["breakGlass"].is_boolean())
      return absl::InvalidArgumentError("breakGlass must be a bool");
    p.break_glass = j["breakGlass"].get<bool>();
  }
  return p;
}

}  // namespace kubehub::hub
