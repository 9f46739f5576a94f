#pragma once
/// `pods/proxy` and `services/proxy` as the API server parses them, without I/O: the name
/// segment (`NAME`, `NAME:PORT`, `SCHEME:NAME:PORT`) and the path the backend is asked for,
/// plus the answer of the stand-in's HTTP responder on a pod's declared port. Pure.

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kubehub::standin {

/// A proxy target from the name segment of the URL (already percent-decoded).
struct ProxyTarget {
  std::string scheme;  // "", "http" or "https"
  std::string name;
  std::string port;  // "" (the default), a number or a port name
};

/// Splits `[SCHEME:]NAME[:PORT]` like the API server's net.SplitSchemeNamePort; a bad segment
/// is 400 `invalid request "..."`.
absl::StatusOr<ProxyTarget> parseProxyTarget(std::string_view segment);

/// The backend path of a proxy request: what follows `/proxy` in the raw (still encoded) URL
/// path, "/" when nothing does. `raw_path` must contain the `/proxy` segment after the name.
std::string proxyBackendPath(std::string_view raw_path);

/// What the responder on a pod's port answers: a JSON document echoing the request.
std::string proxyEchoBody(std::string_view method, std::string_view path, std::string_view query,
                          std::string_view body, std::string_view pod, int port);

/// The API server's message when it cannot reach the backend (503 ServiceUnavailable).
std::string proxyDialRefused(std::string_view ip, int port);

}  // namespace kubehub::standin
