#include "metaserver/api/paging.h"

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"

namespace kubehub::metaserver {

using Json = nlohmann::json;

absl::StatusOr<PageQuery> parsePage(const std::optional<std::string>& limit,
                                    const std::optional<std::string>& continue_token,
                                    std::string_view list, size_t key_size) {
  PageQuery page;
  if (limit.has_value()) {
    if (!absl::SimpleAtoi(*limit, &page.limit) || page.limit < 1 || page.limit > kMaxPageLimit) {
      return absl::InvalidArgumentError("limit must be an integer between 1 and " +
                                        std::to_string(kMaxPageLimit));
    }
  }
  if (!continue_token.has_value() || continue_token->empty()) return page;
  const auto malformed = [&] {
    return absl::InvalidArgumentError(
        "continue: not a continue token of this list (" + std::string(list) +
        "); send back metadata.continue of the previous page, with the same filters");
  };
  std::string decoded;
  if (continue_token->size() > 4096 || !absl::WebSafeBase64Unescape(*continue_token, &decoded)) {
    return malformed();
  }
  Json j = Json::parse(decoded, nullptr, false);
  if (!j.is_object() || !j.contains("list") || !j["list"].is_string() ||
      j["list"].get<std::string>() != list || !j.contains("after") || !j["after"].is_array() ||
      j["after"].size() != key_size) {
    return malformed();
  }
  for (const auto& v : j["after"]) {
    if (!v.is_string() || v.get<std::string>().empty()) return malformed();
    page.after.push_back(v.get<std::string>());
  }
  return page;
}

std::string continueToken(std::string_view list, const std::vector<std::string>& key) {
  Json j = {{"list", list}, {"after", key}};
  return absl::WebSafeBase64Escape(j.dump());
}

Json pagedItems(Json items, std::string_view list, const std::vector<std::string>& next) {
  Json out = {{"items", std::move(items)}};
  if (!next.empty()) out["metadata"] = {{"continue", continueToken(list, next)}};
  return out;
}

}  // namespace kubehub::metaserver
