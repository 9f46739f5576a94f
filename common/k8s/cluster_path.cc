#include "common/k8s/cluster_path.h"

#include <cctype>

#include "common/k8s/validation.h"

namespace kubehub::k8s {

absl::Status checkPathSafe(std::string_view path) {
  if (path.empty() || path.front() != '/') {
    return absl::InvalidArgumentError("request path must start with '/'");
  }
  for (size_t i = 0; i < path.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(path[i]);
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError("request path contains a control character");
    }
    if (c == '\\') return absl::InvalidArgumentError("request path contains a backslash");
    if (c == '%') {
      if (i + 2 >= path.size()) {
        return absl::InvalidArgumentError("request path ends in a truncated percent escape");
      }
      char a = static_cast<char>(std::tolower(static_cast<unsigned char>(path[i + 1])));
      char b = static_cast<char>(std::tolower(static_cast<unsigned char>(path[i + 2])));
      // %2f '/', %5c '\', %2e '.', %00 NUL: each could re-form a path separator or dot
      // segment after decoding by a later hop.
      if ((a == '2' && (b == 'f' || b == 'e')) || (a == '5' && b == 'c') ||
          (a == '0' && b == '0') || a == '%') {
        return absl::InvalidArgumentError(
            "request path contains an encoded '/', '\\', '.' or NUL, which is not allowed");
      }
    }
  }
  if (path.find("//") != std::string_view::npos) {
    return absl::InvalidArgumentError("request path contains an empty segment ('//')");
  }
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view seg = path.substr(pos, end - pos);
    if (seg == "." || seg == "..") {
      return absl::InvalidArgumentError("request path contains a '.' or '..' segment");
    }
    pos = end + 1;
  }
  return absl::OkStatus();
}

absl::StatusOr<ClusterTarget> parseClusterTarget(std::string_view target) {
  constexpr std::string_view kPrefix = "/clusters/";
  if (target.size() > 8192) return absl::InvalidArgumentError("request target is too long");
  std::string_view path = target;
  std::string_view query;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    path = target.substr(0, q);
    query = target.substr(q + 1);
  }
  if (auto h = path.find('#'); h != std::string_view::npos) {
    return absl::InvalidArgumentError("request target contains a fragment");
  }
  absl::Status safe = checkPathSafe(path);
  if (!safe.ok()) return safe;
  if (!path.starts_with(kPrefix)) {
    return absl::NotFoundError(
        "the path must start with /clusters/CLUSTER/ (e.g. /clusters/edge-1/api/v1/pods)");
  }
  std::string_view rest = path.substr(kPrefix.size());
  size_t slash = rest.find('/');
  std::string_view cluster = rest.substr(0, slash);
  if (!isDnsLabel(cluster)) {
    return absl::InvalidArgumentError("cluster name \"" + std::string(cluster.substr(0, 80)) +
                                      "\" is not a valid DNS label");
  }
  ClusterTarget out;
  out.cluster = std::string(cluster);
  out.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  out.query = std::string(query);
  return out;
}

std::string percentDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      int h = hex(in[i + 1]);
      int l = hex(in[i + 2]);
      if (h >= 0 && l >= 0) {
        out.push_back(static_cast<char>(h * 16 + l));
        i += 2;
        continue;
      }
    }
    out.push_back(in[i] == '+' ? ' ' : in[i]);
  }
  return out;
}

}  // namespace kubehub::k8s
