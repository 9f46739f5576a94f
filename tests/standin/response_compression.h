#pragma once
/// Response compression as a real API server does it (k8s.io/apiserver's response writers with
/// APIResponseCompression, on by default since 1.16): an API object's serialisation (a GET, a
/// LIST, a Table, discovery) larger than 128 KiB goes out gzipped at level 1 when the request's
/// Accept-Encoding has "gzip" as one of its comma-separated tokens, with `Content-Encoding: gzip`,
/// `Vary: Accept-Encoding` and no Content-Length. Watches, logs and proxied bytes never are.
/// Pure functions; any thread.

#include <cstddef>
#include <string>
#include <string_view>

namespace kubehub::standin {

/// Bodies of this size or less go out as they are.
constexpr size_t kGzipThresholdBytes = 128 * 1024;

/// The server's test, token by token: "gzip" after trimming spaces and tabs, exactly. So
/// "gzip;q=1" and "GZIP" do not ask for it (the server compares the whole token), and "gzip;q=0"
/// does not refuse it either, since it is not the token "gzip".
bool acceptsGzip(std::string_view accept_encoding);

/// Whether a response with this body is sent gzipped to a client for which acceptsGzip() holds.
inline bool shouldGzip(bool api_object, size_t body_bytes) {
  return api_object && body_bytes > kGzipThresholdBytes;
}

/// `data` as one gzip member, deflated at level 1 (the server's level: most of the size saving
/// for the least CPU).
std::string gzipFast(std::string_view data);

}  // namespace kubehub::standin
