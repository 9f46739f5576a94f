#include "common/net/http_headers.h"

#include <cctype>

namespace kubehub::net {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

bool headerHasToken(std::string_view value, std::string_view token) {
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t end = value.find(',', pos);
    if (end == std::string_view::npos) end = value.size();
    std::string_view t = value.substr(pos, end - pos);
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    if (iequals(t, token)) return true;
    pos = end + 1;
  }
  return false;
}

std::optional<std::string> findHeader(const HeaderList& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return v;
  }
  return std::nullopt;
}

bool isHopByHop(std::string_view name) {
  static constexpr std::string_view kHop[] = {"connection",
                                              "keep-alive",
                                              "proxy-connection",
                                              "proxy-authenticate",
                                              "proxy-authorization",
                                              "te",
                                              "trailer",
                                              "transfer-encoding",
                                              "upgrade"};
  for (auto h : kHop) {
    if (iequals(name, h)) return true;
  }
  return false;
}

bool isUpgrade(const HeaderList& headers) {
  auto conn = findHeader(headers, "Connection");
  return conn && headerHasToken(*conn, "upgrade") && findHeader(headers, "Upgrade").has_value();
}

namespace {

/// Names listed in Connection are hop-by-hop too (except "upgrade"/"close"/"keep-alive").
bool namedByConnection(const HeaderList& in, std::string_view name) {
  for (const auto& [k, v] : in) {
    if (iequals(k, "Connection") && headerHasToken(v, name)) return true;
  }
  return false;
}

}  // namespace

HeaderList forwardableRequestHeaders(const HeaderList& in, std::vector<std::string>* removed) {
  bool upgrade = isUpgrade(in);
  HeaderList out;
  out.reserve(in.size());
  for (const auto& [k, v] : in) {
    // Kubehub-Peer-*: what one hub tells another about the user; never the user's to say.
    bool security =
        iequals(k, "Authorization") || iequals(k, "Proxy-Authorization") ||
        (k.size() >= 12 && iequals(std::string_view(k).substr(0, 12), "Impersonate-")) ||
        (k.size() >= 13 && iequals(std::string_view(k).substr(0, 13), "Kubehub-Peer-"));
    if (security) {
      if (removed) removed->push_back(k);
      continue;
    }
    if (iequals(k, "Host")) continue;    // the agent names its own API server
    if (iequals(k, "Expect")) continue;  // the hub answers 100-continue itself
    if (upgrade && (iequals(k, "Connection") || iequals(k, "Upgrade"))) {
      out.emplace_back(k, iequals(k, "Connection") ? "Upgrade" : v);
      continue;
    }
    if (isHopByHop(k) || namedByConnection(in, k)) continue;
    out.emplace_back(k, v);
  }
  return out;
}

HeaderList forwardableResponseHeaders(const HeaderList& in, int status) {
  bool upgrade = status == 101;
  HeaderList out;
  out.reserve(in.size());
  for (const auto& [k, v] : in) {
    if (upgrade && (iequals(k, "Connection") || iequals(k, "Upgrade"))) {
      out.emplace_back(k, v);
      continue;
    }
    if (isHopByHop(k) || namedByConnection(in, k)) continue;
    out.emplace_back(k, v);
  }
  return out;
}

}  // namespace kubehub::net
