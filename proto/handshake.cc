#include "proto/handshake.h"

#include <cctype>
#include <nlohmann/json.hpp>

#include "common/k8s/validation.h"
#include "proto/frame.h"

namespace kubehub::proto {
namespace {

absl::StatusOr<nlohmann::json> parseObject(std::string_view payload, std::string_view what) {
  nlohmann::json j = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(std::string(what) + " is not a JSON object");
  }
  return j;
}

absl::Status getU32(const nlohmann::json& j, const char* key, uint32_t* out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_unsigned() || it->get<uint64_t>() > 0xffffffffull) {
    return absl::InvalidArgumentError(std::string("field ") + key + " must be an unsigned integer");
  }
  *out = static_cast<uint32_t>(it->get<uint64_t>());
  return absl::OkStatus();
}

absl::Status getString(const nlohmann::json& j, const char* key, std::string* out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) {
    return absl::InvalidArgumentError(std::string("field ") + key + " must be a string");
  }
  *out = it->get<std::string>();
  if (out->size() > 256)
    return absl::InvalidArgumentError(std::string("field ") + key + " too long");
  return absl::OkStatus();
}

/// An optional array of at most 64 short strings.
absl::Status getCapabilities(const nlohmann::json& j, std::string_view what,
                             std::vector<std::string>* out) {
  auto it = j.find("capabilities");
  if (it == j.end()) return absl::OkStatus();
  auto bad = [&] {
    return absl::InvalidArgumentError(std::string(what) +
                                      " capabilities must be an array of strings");
  };
  if (!it->is_array() || it->size() > 64) return bad();
  for (const auto& c : *it) {
    if (!c.is_string() || c.get<std::string>().size() > 64) return bad();
    out->push_back(c.get<std::string>());
  }
  return absl::OkStatus();
}

}  // namespace

bool hasCapability(const std::vector<std::string>& capabilities, std::string_view name) {
  for (const auto& c : capabilities) {
    if (c == name) return true;
  }
  return false;
}

std::string encodeHello(const Hello& hello) {
  nlohmann::json j = {{"protocol", hello.protocol},
                      {"cluster", hello.cluster},
                      {"agentVersion", hello.agent_version},
                      {"capabilities", hello.capabilities}};
  // Absent rather than empty, so a HELLO without them is byte for byte protocol 1's.
  if (!hello.instance.empty()) j["instance"] = hello.instance;
  if (hello.connection >= 0) j["connection"] = hello.connection;
  return j.dump();
}

absl::StatusOr<Hello> decodeHello(std::string_view payload) {
  auto j = parseObject(payload, "HELLO");
  if (!j.ok()) return j.status();
  Hello h;
  absl::Status s = getU32(*j, "protocol", &h.protocol);
  if (s.ok()) s = getString(*j, "cluster", &h.cluster);
  if (s.ok()) s = getString(*j, "agentVersion", &h.agent_version);
  if (!s.ok()) return s;
  if (!k8s::isDnsLabel(h.cluster)) {
    return absl::InvalidArgumentError("HELLO cluster is not a DNS label");
  }
  if (auto c = getCapabilities(*j, "HELLO", &h.capabilities); !c.ok()) return c;
  if (j->contains("instance")) {
    const auto& v = (*j)["instance"];
    bool hex = v.is_string() && !v.get<std::string>().empty() && v.get<std::string>().size() <= 32;
    if (hex) {
      for (char ch : v.get<std::string>())
        hex = hex && std::isxdigit(static_cast<unsigned char>(ch)) &&
              !std::isupper(static_cast<unsigned char>(ch));
    }
    if (!hex)
      return absl::InvalidArgumentError("HELLO instance must be 1 to 32 lower-case hex digits");
    h.instance = v.get<std::string>();
  }
  if (j->contains("connection")) {
    const auto& v = (*j)["connection"];
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 15) {
      return absl::InvalidArgumentError("HELLO connection must be an integer from 0 to 15");
    }
    h.connection = static_cast<int>(v.get<int64_t>());
  }
  return h;
}

std::string encodeWelcome(const Welcome& w) {
  nlohmann::json j = {{"protocol", w.protocol},
                      {"hubId", w.hub_id},
                      {"maxFrame", w.max_frame},
                      {"streamWindow", w.stream_window},
                      {"connectionWindow", w.connection_window},
                      {"pingIntervalMs", w.ping_interval_ms},
                      {"maxStreams", w.max_streams}};
  // Absent rather than empty, so a WELCOME without extras is byte for byte protocol 1's.
  if (!w.capabilities.empty()) j["capabilities"] = w.capabilities;
  return j.dump();
}

absl::StatusOr<Welcome> decodeWelcome(std::string_view payload) {
  auto j = parseObject(payload, "WELCOME");
  if (!j.ok()) return j.status();
  Welcome w;
  absl::Status s = getU32(*j, "protocol", &w.protocol);
  if (s.ok()) s = getString(*j, "hubId", &w.hub_id);
  if (s.ok()) s = getU32(*j, "maxFrame", &w.max_frame);
  if (s.ok()) s = getU32(*j, "streamWindow", &w.stream_window);
  if (s.ok()) s = getU32(*j, "connectionWindow", &w.connection_window);
  if (s.ok()) s = getU32(*j, "pingIntervalMs", &w.ping_interval_ms);
  if (s.ok()) s = getU32(*j, "maxStreams", &w.max_streams);
  if (!s.ok()) return s;
  if (w.max_frame < 4096 || w.max_frame > kMaxFrameSize) {
    return absl::InvalidArgumentError("WELCOME maxFrame out of range");
  }
  if (w.stream_window < kMaxDataChunk || w.stream_window > (1u << 30) ||
      w.connection_window < w.stream_window || w.connection_window > (1u << 30)) {
    return absl::InvalidArgumentError("WELCOME windows out of range");
  }
  if (w.ping_interval_ms < 100 || w.max_streams == 0) {
    return absl::InvalidArgumentError("WELCOME pingIntervalMs or maxStreams out of range");
  }
  if (auto c = getCapabilities(*j, "WELCOME", &w.capabilities); !c.ok()) return c;
  return w;
}

}  // namespace kubehub::proto
