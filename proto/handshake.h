#pragma once
/// HELLO (agent -> hub) and WELCOME (hub -> agent) payloads: small JSON documents, validated
/// strictly (unknown protocol versions and malformed identities are refused). Pure.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kubehub::proto {

struct Hello {
  uint32_t protocol = 0;
  std::string cluster;
  std::string agent_version;
  std::vector<std::string> capabilities;
  /// The agent process (random, lower-case hex, at most 32 characters) and which of its
  /// connections this is (0..15): a hub that already holds a tunnel of the same agent through
  /// another connection refuses this one (GOAWAY ALREADY_CONNECTED) instead of replacing it.
  /// Empty / -1 from agents that send none (then a newer tunnel replaces the older one).
  std::string instance{};
  int connection = -1;
};

struct Welcome {
  uint32_t protocol = 0;
  std::string hub_id;
  uint32_t max_frame = 0;
  uint32_t stream_window = 0;
  uint32_t connection_window = 0;
  uint32_t ping_interval_ms = 0;
  uint32_t max_streams = 0;
  /// What the hub does beyond protocol 1's core; only ones the agent offered in HELLO.
  std::vector<std::string> capabilities;
};

/// True when `capabilities` lists `name`.
bool hasCapability(const std::vector<std::string>& capabilities, std::string_view name);

std::string encodeHello(const Hello& hello);
absl::StatusOr<Hello> decodeHello(std::string_view payload);
std::string encodeWelcome(const Welcome& welcome);
absl::StatusOr<Welcome> decodeWelcome(std::string_view payload);

}  // namespace kubehub::proto
