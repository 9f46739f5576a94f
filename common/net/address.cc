#include "common/net/address.h"

#include "absl/strings/numbers.h"

namespace kubehub::net {

std::string HostPort::str() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

absl::StatusOr<HostPort> parseHostPort(std::string_view text) {
  HostPort hp;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return absl::InvalidArgumentError("invalid address \"" + std::string(text) +
                                        "\" (want HOST:PORT)");
    }
    hp.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return absl::InvalidArgumentError("invalid address \"" + std::string(text) +
                                        "\" (want HOST:PORT)");
    }
    hp.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  if (hp.host.empty()) hp.host = "0.0.0.0";
  uint32_t port = 0;
  if (!absl::SimpleAtoi(absl::string_view(port_text.data(), port_text.size()), &port) ||
      port > 65535) {
    return absl::InvalidArgumentError("invalid port in address \"" + std::string(text) + "\"");
  }
  hp.port = static_cast<uint16_t>(port);
  return hp;
}

absl::StatusOr<Url> parseUrl(std::string_view text) {
  Url u;
  size_t scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos) {
    return absl::InvalidArgumentError("invalid URL \"" + std::string(text) + "\"");
  }
  u.scheme = std::string(text.substr(0, scheme_end));
  if (u.scheme != "https" && u.scheme != "wss" && u.scheme != "http") {
    return absl::InvalidArgumentError("unsupported URL scheme \"" + u.scheme + "\"");
  }
  std::string_view rest = text.substr(scheme_end + 3);
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) u.path = std::string(rest.substr(slash));
  while (!u.path.empty() && u.path.back() == '/') u.path.pop_back();
  uint16_t default_port = u.scheme == "http" ? 80 : 443;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    has_port = authority.find("]:") != std::string_view::npos;
  } else {
    has_port = authority.find(':') != std::string_view::npos;
  }
  if (has_port) {
    auto hp = parseHostPort(authority);
    if (!hp.ok()) return hp.status();
    u.host = hp->host;
    u.port = hp->port;
  } else {
    u.host = std::string(authority);
    if (u.host.size() > 2 && u.host.front() == '[') u.host = u.host.substr(1, u.host.size() - 2);
    u.port = default_port;
  }
  if (u.host.empty() || u.port == 0) {
    return absl::InvalidArgumentError("URL \"" + std::string(text) + "\" has no host or port");
  }
  return u;
}

}  // namespace kubehub::net
