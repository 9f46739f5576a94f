#include "hub/api/command_listing.h"

#include <nlohmann/json.hpp>

namespace kubehub::hub {

absl::StatusOr<std::string> filterCommandListing(std::string_view body,
                                                 const std::set<std::string>& allowed) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("items") || !j["items"].is_array()) {
    return absl::InvalidArgumentError("the agent's command listing is not a JSON list of items");
  }
  nlohmann::json kept = nlohmann::json::array();
  for (auto& item : j["items"]) {
    if (!item.is_object()) continue;
    auto name = item.find("name");
    if (name == item.end() || !name->is_string()) continue;
    if (allowed.count(name->get<std::string>())) kept.push_back(std::move(item));
  }
  j["items"] = std::move(kept);
  return j.dump();
}

}  // namespace kubehub::hub
