#include "common/k8s/request_info.h"

#include <vector>

#include "common/k8s/query.h"

namespace kubehub::k8s {

namespace {

std::vector<std::string_view> splitPath(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    if (end > pos) parts.push_back(path.substr(pos, end - pos));
    pos = end + 1;
  }
  return parts;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

RequestInfo parseRequestInfo(std::string_view method, std::string_view path,
                             std::string_view query) {
  RequestInfo info;
  info.path = std::string(path);
  info.verb = lower(method);
  auto parts = splitPath(path);
  if (parts.empty() || (parts[0] != "api" && parts[0] != "apis")) return info;
  size_t i = 0;
  info.api_prefix = std::string(parts[i++]);
  if (info.api_prefix == "apis") {
    if (parts.size() < 3) return info;  // /apis or /apis/GROUP: discovery
    info.api_group = std::string(parts[i++]);
  } else if (parts.size() < 2) {
    return info;  // /api: discovery
  }
  info.api_version = std::string(parts[i++]);
  if (i >= parts.size()) return info;  // /api/v1, /apis/G/V: discovery
  info.is_resource_request = true;

  bool legacy_watch = false;
  if (parts[i] == "watch") {
    legacy_watch = true;
    ++i;
  }
  std::vector<std::string_view> rest(parts.begin() + static_cast<long>(i), parts.end());
  if (rest.empty()) {
    info.is_resource_request = false;
    return info;
  }
  if (rest[0] == "namespaces" && rest.size() >= 2) {
    info.namespace_ = std::string(rest[1]);
    // namespaces/NS/RESOURCE...; but namespaces/NS/status and /finalize are the namespace's own
    // subresources (as in kube-apiserver).
    if (rest.size() >= 3 && rest[2] != "status" && rest[2] != "finalize") {
      rest.erase(rest.begin(), rest.begin() + 2);
    }
  }
  info.resource = std::string(rest[0]);
  if (rest.size() >= 2) info.name = std::string(rest[1]);
  if (rest.size() >= 3) info.subresource = std::string(rest[2]);

  std::string m = lower(method);
  bool watch = legacy_watch || queryFlag(query, "watch");
  if (m == "get" || m == "head") {
    if (watch) {
      info.verb = "watch";
    } else {
      info.verb = info.name.empty() ? "list" : "get";
    }
  } else if (m == "post") {
    info.verb = "create";
  } else if (m == "put") {
    info.verb = "update";
  } else if (m == "patch") {
    info.verb = "patch";
  } else if (m == "delete") {
    info.verb = info.name.empty() ? "deletecollection" : "delete";
  }
  return info;
}

bool isLongRunning(const RequestInfo& info) {
  if (info.verb == "watch") return true;
  if (!info.is_resource_request) return false;
  const std::string& sub = info.subresource;
  return sub == "attach" || sub == "exec" || sub == "log" || sub == "portforward" || sub == "proxy";
}

}  // namespace kubehub::k8s
