#include "agent/dialer/hubs_message.h"

#include <set>

#include "absl/strings/ascii.h"
#include "common/net/address.h"

namespace kubehub::agent {

namespace {

// Names and IP literals only: no user info, no spaces, nothing a resolver would reinterpret.
bool validHost(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  bool v6 = host.find(':') != std::string_view::npos;
  for (char c : host) {
    bool ok = absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || (!v6 && c == '-') ||
              (v6 && c == ':');
    if (!ok) return false;
  }
  return true;
}

bool validPath(std::string_view path) {
  for (char c : path) {
    if (c <= 0x20 || c >= 0x7f || c == '#') return false;
  }
  return true;
}

// For error messages: a hostile URL is not repeated in full.
std::string quoted(std::string_view text) {
  constexpr size_t kShown = 100;
  if (text.size() <= kShown) return "\"" + std::string(text) + "\"";
  return "\"" + std::string(text.substr(0, kShown)) + "...\"";
}

}  // namespace

absl::StatusOr<std::string> canonicalTunnelUrl(std::string_view text) {
  if (text.size() > kMaxTunnelUrlLength) {
    return absl::InvalidArgumentError("URL longer than " + std::to_string(kMaxTunnelUrlLength) +
                                      " bytes");
  }
  if (!text.starts_with("wss://")) {
    return absl::InvalidArgumentError(quoted(text) + " does not start with wss://");
  }
  std::string_view authority = text.substr(6);
  if (authority.empty() || authority.front() == ':' || authority.front() == '/') {
    return absl::InvalidArgumentError(quoted(text) + " names no host");
  }
  auto url = net::parseUrl(text);
  if (!url.ok()) return url.status();
  std::string host = absl::AsciiStrToLower(url->host);
  if (!validHost(host)) {
    return absl::InvalidArgumentError(quoted(text) + " has an invalid host");
  }
  if (url->path.empty()) url->path = "/tunnel";
  if (url->path.front() != '/' || !validPath(url->path)) {
    return absl::InvalidArgumentError(quoted(text) + " has an invalid path");
  }
  bool v6 = host.find(':') != std::string::npos;
  return "wss://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(url->port) + url->path;
}

absl::StatusOr<HubsMessage> parseHubsMessage(std::string_view message) {
  auto parsed = proto::parseHubs(message);
  if (!parsed.ok()) return parsed.status();
  HubsMessage out;
  out.skipped = std::move(parsed->skipped);
  std::set<std::string> urls;
  for (auto& hub : parsed->hubs) {
    auto canonical = canonicalTunnelUrl(hub.url);
    if (!canonical.ok()) {
      out.skipped.push_back(hub.id + ": " + std::string(canonical.status().message()));
      continue;
    }
    if (!urls.insert(*canonical).second) {
      out.skipped.push_back(hub.id + ": " + *canonical + " is listed before");
      continue;
    }
    out.hubs.push_back(AnnouncedHub{std::move(hub.id), std::move(*canonical)});
  }
  return out;
}

}  // namespace kubehub::agent
