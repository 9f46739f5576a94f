#include "tests/standin/port_forward.h"

#include <algorithm>
#include <cstdio>
#include <functional>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"

namespace kubehub::standin {
namespace {

/// 64 hex digits derived from `seed` (FNV-1a rounds): stable, not secret.
std::string hexId(const std::string& seed, size_t digits) {
  std::string out;
  uint64_t h = 1469598103934665603ULL;
  for (int round = 0; out.size() < digits; ++round) {
    for (char c : seed + std::to_string(round)) {
      h ^= static_cast<unsigned char>(c);
      h *= 1099511628211ULL;
    }
    char buf[17];
    std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
    out += buf;
  }
  out.resize(digits);
  return out;
}

std::vector<std::string> splitCommas(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    size_t end = s.find(',', pos);
    out.push_back(s.substr(pos, end == std::string::npos ? std::string::npos : end - pos));
    if (end == std::string::npos) return out;
    pos = end + 1;
  }
}

}  // namespace

bool PortForwardPlan::listensOn(int port) const {
  return std::find(ports.begin(), ports.end(), port) != ports.end();
}

std::string PortForwardPlan::sandboxId() const { return hexId(ns + "/" + pod + "/" + uid, 64); }

std::string PortForwardPlan::connectionRefused(int port) const {
  const std::string id = sandboxId();
  const std::string netns = hexId(uid, 32);
  const std::string p = std::to_string(port);
  // kubelet: "error forwarding port P to pod SANDBOX, uid : <runtime error>" (the CRI streaming
  // server knows no pod uid); containerd 1.7 dials both loopbacks inside the pod's netns.
  return "error forwarding port " + p + " to pod " + id +
         ", uid : failed to execute portforward in network namespace \"/var/run/netns/cni-" +
         netns.substr(0, 8) + "-" + netns.substr(8, 4) + "-" + netns.substr(12, 4) + "-" +
         netns.substr(16, 4) + "-" + netns.substr(20, 12) +
         "\": failed to connect to localhost:" + p + " inside namespace \"" + id +
         "\", IPv4: dial tcp4 127.0.0.1:" + p +
         ": connect: connection refused IPv6 dial tcp6 [::1]:" + p +
         ": connect: connection refused ";
}

std::vector<int> declaredPorts(const Json& pod) {
  std::vector<int> out;
  auto spec = pod.find("spec");
  if (spec == pod.end() || !spec->is_object()) return out;
  for (const char* field : {"initContainers", "containers"}) {
    auto cs = spec->find(field);
    if (cs == spec->end() || !cs->is_array()) continue;
    for (const Json& c : *cs) {
      auto ports = c.find("ports");
      if (ports == c.end() || !ports->is_array()) continue;
      for (const Json& p : *ports) {
        if (!p.is_object() || p.value("protocol", std::string("TCP")) != "TCP") continue;
        auto cp = p.find("containerPort");
        if (cp != p.end() && cp->is_number_integer()) out.push_back(cp->get<int>());
      }
    }
  }
  return out;
}

absl::StatusOr<PortForwardStream> parsePortForwardStream(const spdy::Headers& headers,
                                                         uint32_t stream_id) {
  PortForwardStream s;
  auto port = spdy::headerValue(headers, "port");
  if (!port.has_value() || port->empty()) {
    return absl::InvalidArgumentError("\"port\" header is required");
  }
  uint64_t n = 0;
  if (!absl::SimpleAtoi(*port, &n) || n > 65535) {
    return absl::InvalidArgumentError("unable to parse \"" + *port + "\" as a port");
  }
  if (n < 1) return absl::InvalidArgumentError("port \"" + *port + "\" must be > 0");
  s.port = static_cast<int>(n);
  auto type = spdy::headerValue(headers, "streamtype");
  if (!type.has_value() || type->empty()) {
    return absl::InvalidArgumentError("\"streamType\" header is required");
  }
  if (*type != "error" && *type != "data") {
    return absl::InvalidArgumentError("invalid stream type \"" + *type + "\"");
  }
  s.error_stream = *type == "error";
  s.request_id = spdy::headerValue(headers, "requestid").value_or("");
  if (s.request_id.empty()) {
    // Old clients: error and data streams of one connection have consecutive odd ids.
    s.request_id = std::to_string(s.error_stream ? stream_id : stream_id - 2);
  }
  return s;
}

absl::StatusOr<std::optional<StreamPairs::Pair>> StreamPairs::add(const PortForwardStream& s,
                                                                  uint32_t stream_id) {
  Pair& p = waiting_[s.request_id];
  uint32_t& slot = s.error_stream ? p.error : p.data;
  if (slot != 0) {
    return absl::AlreadyExistsError(std::string(s.error_stream ? "error" : "data") +
                                    " stream already assigned");
  }
  slot = stream_id;
  if (!s.error_stream) p.port = s.port;
  if (p.error == 0 || p.data == 0) return std::nullopt;
  Pair done = p;
  waiting_.erase(s.request_id);
  return done;
}

absl::StatusOr<std::vector<int>> parseChannelPorts(const std::vector<std::string>& values) {
  if (values.empty()) return absl::InvalidArgumentError("query parameter \"ports\" is required");
  std::vector<int> out;
  for (const std::string& value : values) {
    if (value.empty()) {
      return absl::InvalidArgumentError("query parameter \"ports\" cannot be empty");
    }
    for (const std::string& p : splitCommas(value)) {
      uint64_t n = 0;
      // strconv.ParseUint: digits only, no sign, no spaces.
      const bool digits = !p.empty() && std::all_of(p.begin(), p.end(),
                                                    [](char c) { return c >= '0' && c <= '9'; });
      if (!digits || !absl::SimpleAtoi(p, &n) || n > 65535) {
        return absl::InvalidArgumentError("unable to parse \"" + value + "\" as a port");
      }
      if (n < 1) return absl::InvalidArgumentError("port \"" + value + "\" must be > 0");
      out.push_back(static_cast<int>(n));
    }
  }
  return out;
}

absl::StatusOr<std::string> chooseChannelProtocol(const std::vector<std::string>& offered) {
  if (offered.empty()) return std::string();
  for (const std::string& p : offered) {
    if (p == kChannelProtocol || p == kBase64ChannelProtocol) return p;
  }
  return absl::InvalidArgumentError("requested protocol(s) are not supported: [" +
                                    absl::StrJoin(offered, " ") + "]; supports [ " +
                                    kChannelProtocol + " " + kBase64ChannelProtocol + "]");
}

std::string PortForwardChannels::encode(size_t channel, std::string_view data) const {
  if (base64_)
    return std::string(1, static_cast<char>('0' + channel)) +
           absl::Base64Escape(absl::string_view(data.data(), data.size()));
  std::string out(1, static_cast<char>(channel));
  out += data;
  return out;
}

std::string PortForwardChannels::portPrefix(size_t channel, int port) const {
  const char le[2] = {static_cast<char>(port & 0xff), static_cast<char>((port >> 8) & 0xff)};
  return encode(channel, std::string_view(le, 2));
}

std::optional<PortForwardChannels::Inbound> PortForwardChannels::decode(
    std::string_view message) const {
  if (message.empty()) return std::nullopt;
  // A byte, as wsstream computes it: '0' - 1 in base64 mode wraps past the last channel.
  unsigned char channel = static_cast<unsigned char>(message[0]);
  if (base64_) channel = static_cast<unsigned char>(channel - '0');
  if (channel >= 2 * ports_ || channel % 2 == 1) return std::nullopt;
  Inbound in;
  in.port_index = channel / 2;
  if (!base64_) {
    in.data = std::string(message.substr(1));
  } else if (!absl::Base64Unescape(absl::string_view(message.data() + 1, message.size() - 1),
                                   &in.data)) {
    return std::nullopt;
  }
  return in;
}

}  // namespace kubehub::standin
