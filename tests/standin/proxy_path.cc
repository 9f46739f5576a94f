#include "tests/standin/proxy_path.h"

#include <vector>

#include "tests/standin/api_error.h"
#include "tests/standin/json_types.h"

namespace kubehub::standin {

absl::StatusOr<ProxyTarget> parseProxyTarget(std::string_view segment) {
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    size_t colon = segment.find(':', start);
    parts.emplace_back(segment.substr(start, colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  ProxyTarget t;
  bool valid = true;
  switch (parts.size()) {
    case 1:
      t.name = parts[0];
      break;
    case 2:
      t.name = parts[0];
      t.port = parts[1];
      break;
    case 3:
      t.scheme = parts[0];
      t.name = parts[1];
      t.port = parts[2];
      valid = t.scheme.empty() || t.scheme == "http" || t.scheme == "https";
      break;
    default:
      valid = false;
  }
  if (!valid || t.name.empty()) {
    return apiError(400, "BadRequest", "invalid request \"" + std::string(segment) + "\"");
  }
  return t;
}

std::string proxyBackendPath(std::string_view raw_path) {
  // The 7th slash of /api/v1/namespaces/NS/RESOURCE/NAME/proxy precedes "proxy": counting
  // slashes rather than searching keeps a backend path that itself contains "proxy" intact.
  size_t slashes = 0;
  size_t pos = 0;
  for (; pos < raw_path.size(); ++pos) {
    if (raw_path[pos] == '/' && ++slashes == 7) break;
  }
  if (pos >= raw_path.size()) return "/";
  std::string_view rest = raw_path.substr(pos + 1);  // "proxy..." after the name
  if (!rest.starts_with("proxy")) return "/";
  rest.remove_prefix(5);
  if (rest.empty()) return "/";
  return std::string(rest);
}

std::string proxyEchoBody(std::string_view method, std::string_view path, std::string_view query,
                          std::string_view body, std::string_view pod, int port) {
  Json j = {{"method", std::string(method)}, {"path", std::string(path)},
            {"query", std::string(query)},   {"body", std::string(body)},
            {"pod", std::string(pod)},       {"port", port}};
  return dumpJson(j);
}

std::string proxyDialRefused(std::string_view ip, int port) {
  return "error trying to reach service: dial tcp " + std::string(ip) + ":" + std::to_string(port) +
         ": connect: connection refused";
}

}  // namespace kubehub::standin
