#include "tests/standin/port_forward.h"

#include <algorithm>
#include <cstdio>
#include <functional>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"

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

}  // namespace kubehub::standin
