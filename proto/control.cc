#include "proto/control.h"

#include "proto/frame.h"

namespace kubehub::proto {
namespace {

using Json = nlohmann::json;

absl::Status invalid(std::string_view type, const std::string& what) {
  return absl::InvalidArgumentError(std::string(type) + " message: " + what);
}

/// The message as a JSON object of type `type`, refused beyond `limit` bytes.
absl::StatusOr<Json> parseMessage(std::string_view message, std::string_view type, size_t limit) {
  if (message.size() > limit) {
    return invalid(type, "longer than " + std::to_string(limit) + " bytes");
  }
  Json j = Json::parse(message, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return invalid(type, "not a JSON object");
  auto t = j.find("type");
  if (t == j.end() || !t->is_string() || t->get_ref<const std::string&>() != type) {
    return invalid(type, "\"type\" is not \"" + std::string(type) + "\"");
  }
  return j;
}

/// Never throws: text that is not UTF-8 (only encoders' callers can produce it: parsers refuse
/// it) is written with replacement characters.
std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

/// `text` cut to at most `limit` bytes, not inside a UTF-8 sequence.
std::string cut(std::string_view text, size_t limit) {
  if (text.size() <= limit) return std::string(text);
  size_t n = limit;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xc0) == 0x80) --n;
  return std::string(text.substr(0, n));
}

/// An optional `id`: absent is 0, present a non-negative integer.
absl::Status readId(const Json& j, std::string_view type, int64_t* out) {
  auto it = j.find("id");
  if (it == j.end()) return absl::OkStatus();
  bool ok = it->is_number_unsigned() || (it->is_number_integer() && it->get<int64_t>() >= 0);
  if (!ok || it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    return invalid(type, "\"id\" must be a non-negative integer");
  }
  *out = static_cast<int64_t>(it->get<uint64_t>());
  return absl::OkStatus();
}

/// An optional string member of at most kMaxControlText bytes (absent: empty).
absl::Status readText(const Json& j, std::string_view type, const char* key, std::string* out) {
  auto it = j.find(key);
  if (it == j.end()) return absl::OkStatus();
  if (!it->is_string()) return invalid(type, std::string("\"") + key + "\" must be a string");
  if (it->get_ref<const std::string&>().size() > kMaxControlText) {
    return invalid(type, std::string("\"") + key + "\" is longer than " +
                             std::to_string(kMaxControlText) + " bytes");
  }
  *out = it->get<std::string>();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> controlType(std::string_view message) {
  if (message.size() > kMaxControlMessage) {
    return absl::InvalidArgumentError("control message longer than " +
                                      std::to_string(kMaxControlMessage) + " bytes");
  }
  Json j = Json::parse(message, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("control message is not a JSON object");
  }
  auto t = j.find("type");
  if (t == j.end() || !t->is_string()) {
    return absl::InvalidArgumentError("control message has no string \"type\"");
  }
  return t->get<std::string>();
}

bool isHubId(std::string_view id) {
  if (id.empty() || id.size() > kMaxHubIdLength) return false;
  for (char c : id) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

std::string encodeDiscoveryRequest(const DiscoveryRequest& request) {
  return dump(Json{{"type", std::string(kControlDiscoveryRequest)}, {"id", request.id}});
}

absl::StatusOr<DiscoveryRequest> parseDiscoveryRequest(std::string_view message) {
  auto j = parseMessage(message, kControlDiscoveryRequest, kMaxSmallControlMessage);
  if (!j.ok()) return j.status();
  DiscoveryRequest out;
  if (auto s = readId(*j, kControlDiscoveryRequest, &out.id); !s.ok()) return s;
  return out;
}

std::string encodeDiscoveryResponse(const DiscoveryResponse& response) {
  return dump(Json{{"type", std::string(kControlDiscoveryResponse)},
                   {"id", response.id},
                   {"serverVersion", response.server_version},
                   {"resources", response.resources},
                   {"failedGroupVersions", response.failed_group_versions}});
}

absl::StatusOr<DiscoveryResponse> parseDiscoveryResponse(std::string_view message) {
  constexpr std::string_view kType = kControlDiscoveryResponse;
  auto j = parseMessage(message, kType, kMaxControlMessage);
  if (!j.ok()) return j.status();
  DiscoveryResponse out;
  if (auto s = readId(*j, kType, &out.id); !s.ok()) return s;
  auto resources = j->find("resources");
  if (resources == j->end() || !resources->is_array()) {
    return invalid(kType, "\"resources\" must be an array");
  }
  out.resources = std::move(*resources);
  if (auto v = j->find("serverVersion"); v != j->end()) {
    if (!v->is_object()) return invalid(kType, "\"serverVersion\" must be an object");
    out.server_version = std::move(*v);
  }
  if (auto f = j->find("failedGroupVersions"); f != j->end()) {
    if (!f->is_array()) return invalid(kType, "\"failedGroupVersions\" must be an array");
    for (const Json& gv : *f) {
      if (!gv.is_string()) return invalid(kType, "\"failedGroupVersions\" must list strings");
      out.failed_group_versions.push_back(gv.get<std::string>());
    }
  }
  return out;
}

std::string encodeDiscoveryError(const DiscoveryError& error) {
  return dump(Json{{"type", std::string(kControlDiscoveryError)},
                   {"id", error.id},
                   {"message", cut(error.message, kMaxControlText)}});
}

absl::StatusOr<DiscoveryError> parseDiscoveryError(std::string_view message) {
  auto j = parseMessage(message, kControlDiscoveryError, kMaxSmallControlMessage);
  if (!j.ok()) return j.status();
  DiscoveryError out;
  if (auto s = readId(*j, kControlDiscoveryError, &out.id); !s.ok()) return s;
  if (auto s = readText(*j, kControlDiscoveryError, "message", &out.message); !s.ok()) return s;
  return out;
}

std::string encodeHubs(const Hubs& hubs) {
  Json list = Json::array();
  for (const auto& h : hubs.hubs) list.push_back(Json{{"id", h.id}, {"url", h.url}});
  return dump(Json{{"type", std::string(kControlHubs)}, {"hubs", std::move(list)}});
}

absl::StatusOr<Hubs> parseHubs(std::string_view message) {
  auto j = parseMessage(message, kControlHubs, kMaxControlMessage);
  if (!j.ok()) return j.status();
  auto list = j->find("hubs");
  if (list == j->end() || !list->is_array())
    return invalid(kControlHubs, "\"hubs\" must be an array");
  if (list->size() > kMaxAnnouncedHubs) {
    return invalid(kControlHubs, "more than " + std::to_string(kMaxAnnouncedHubs) + " hubs listed");
  }
  Hubs out;
  size_t index = 0;
  for (const Json& entry : *list) {
    std::string where = "entry " + std::to_string(index++);
    if (!entry.is_object()) {
      out.skipped.push_back(where + ": not an object");
      continue;
    }
    auto id = entry.find("id");
    auto url = entry.find("url");
    if (id == entry.end() || !id->is_string() || !isHubId(id->get_ref<const std::string&>())) {
      out.skipped.push_back(where + ": \"id\" must be a string of 1 to " +
                            std::to_string(kMaxHubIdLength) +
                            " printable characters without spaces");
      continue;
    }
    if (url == entry.end() || !url->is_string()) {
      out.skipped.push_back(where + ": \"url\" must be a string");
      continue;
    }
    if (url->get_ref<const std::string&>().size() > kMaxTunnelUrlLength) {
      out.skipped.push_back(where + ": \"url\" is longer than " +
                            std::to_string(kMaxTunnelUrlLength) + " bytes");
      continue;
    }
    out.hubs.push_back(AnnouncedHub{id->get<std::string>(), url->get<std::string>()});
  }
  return out;
}

std::string encodeMove(const Move& move) {
  Json j{{"type", std::string(kControlMove)},
         {"reason", cut(move.reason, kMaxControlText)},
         {"to", move.to}};
  if (move.only) j["only"] = true;
  return dump(j);
}

absl::StatusOr<Move> parseMove(std::string_view message) {
  auto j = parseMessage(message, kControlMove, kMaxSmallControlMessage);
  if (!j.ok()) return j.status();
  Move out;
  if (auto s = readText(*j, kControlMove, "reason", &out.reason); !s.ok()) return s;
  if (auto to = j->find("to"); to != j->end()) {
    if (!to->is_array() || to->size() > kMaxMoveTargets) {
      return invalid(kControlMove, "\"to\" must be an array of at most " +
                                       std::to_string(kMaxMoveTargets) + " hub ids");
    }
    for (const Json& id : *to) {
      if (!id.is_string() || !isHubId(id.get_ref<const std::string&>())) {
        return invalid(kControlMove, "\"to\" must list hub ids (1 to " +
                                         std::to_string(kMaxHubIdLength) +
                                         " printable characters without spaces)");
      }
      out.to.push_back(id.get<std::string>());
    }
  }
  if (auto only = j->find("only"); only != j->end()) {
    if (!only->is_boolean()) return invalid(kControlMove, "\"only\" must be true or false");
    out.only = only->get<bool>();
  }
  return out;
}

std::string encodeLeaving(const Leaving& leaving) {
  return dump(
      Json{{"type", std::string(kControlLeaving)}, {"to", cut(leaving.to, kMaxControlText)}});
}

absl::StatusOr<Leaving> parseLeaving(std::string_view message) {
  auto j = parseMessage(message, kControlLeaving, kMaxSmallControlMessage);
  if (!j.ok()) return j.status();
  Leaving out;
  if (auto s = readText(*j, kControlLeaving, "to", &out.to); !s.ok()) return s;
  return out;
}

}  // namespace kubehub::proto
