#include "tests/standin/response_compression.h"

#include <zlib.h>

#include <limits>

namespace kubehub::standin {

bool acceptsGzip(std::string_view accept_encoding) {
  while (!accept_encoding.empty()) {
    size_t comma = accept_encoding.find(',');
    std::string_view token = accept_encoding.substr(0, comma);
    accept_encoding =
        comma == std::string_view::npos ? std::string_view() : accept_encoding.substr(comma + 1);
    // Go's strings.TrimSpace: ASCII white space at both ends.
    constexpr std::string_view kSpace = " \t\n\v\f\r";
    size_t first = token.find_first_not_of(kSpace);
    if (first == std::string_view::npos) continue;
    token = token.substr(first, token.find_last_not_of(kSpace) - first + 1);
    if (token == "gzip") return true;
  }
  return false;
}

std::string gzipFast(std::string_view data) {
  if (data.size() > std::numeric_limits<uInt>::max() / 2) return {};
  z_stream z{};
  // 15 window bits + 16: a gzip header and trailer around the deflate stream.
  if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return {};
  std::string out(deflateBound(&z, static_cast<uLong>(data.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  // deflateBound leaves room for the whole input in one call.
  int rc = deflate(&z, Z_FINISH);
  out.resize(rc == Z_STREAM_END ? z.total_out : 0);
  deflateEnd(&z);
  return out;
}

}  // namespace kubehub::standin
