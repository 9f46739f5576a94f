#pragma once
/// Response compression as the Kubernetes API server does it (k8s.io/apiserver's response
/// writers, APIResponseCompression, on by default since 1.16): an API object's serialisation (an
/// object, a list, a Table, discovery) of more than 128 KiB goes out gzipped at level 1 when the
/// request's Accept-Encoding has the token "gzip", with `Content-Encoding: gzip` and
/// `Vary: Accept-Encoding`; watch streams, logs and proxied bytes never are. Go's client, so
/// kubectl, asks for gzip. The hub's cache answers and the edge stand-in follow these rules.
/// acceptsGzip and gzipFast are pure; a GzipWriter is used by one thread at a time.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace kubehub::k8s {

/// Bodies of this size or less go out as they are.
constexpr size_t kGzipThresholdBytes = 128 * 1024;

/// The server's test, token by token: "gzip" after trimming white space, exactly. So
/// "gzip;q=1" and "GZIP" do not ask for it (the server compares the whole token), and "gzip;q=0"
/// does not refuse it either, since it is not the token "gzip".
bool acceptsGzip(std::string_view accept_encoding);

/// One gzip member produced in pieces, deflated at level 1 (the server's level: most of the
/// size saving for the least CPU; a 10,000-pod list shrinks ~17x).
class GzipWriter {
 public:
  GzipWriter();
  ~GzipWriter();
  GzipWriter(const GzipWriter&) = delete;
  GzipWriter& operator=(const GzipWriter&) = delete;

  /// Compresses `in` and appends to `out` what the compressor has ready; `finish` ends the
  /// member (the gzip trailer written). False when zlib fails (out of memory): the member is
  /// then unusable.
  bool write(std::string_view in, bool finish, std::string* out);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// `data` as one whole gzip member; empty when zlib fails.
std::string gzipFast(std::string_view data);

}  // namespace kubehub::k8s
