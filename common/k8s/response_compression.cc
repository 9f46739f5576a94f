#include "common/k8s/response_compression.h"

#include <zlib.h>

#include <algorithm>

namespace kubehub::k8s {

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

struct GzipWriter::State {
  z_stream z{};
  bool ok = false;
  bool done = false;
};

GzipWriter::GzipWriter() : state_(std::make_unique<State>()) {
  // 15 window bits + 16: a gzip header and trailer around the deflate stream.
  state_->ok = deflateInit2(&state_->z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
}

GzipWriter::~GzipWriter() {
  if (state_->ok || state_->done) deflateEnd(&state_->z);
}

bool GzipWriter::write(std::string_view in, bool finish, std::string* out) {
  State& s = *state_;
  if (!s.ok) return false;
  constexpr size_t kStep = size_t{1} << 30;  // avail_in is 32 bits
  do {
    size_t take = std::min(in.size(), kStep);
    bool last = take == in.size();
    s.z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    s.z.avail_in = static_cast<uInt>(take);
    in.remove_prefix(take);
    int flush = finish && last ? Z_FINISH : Z_NO_FLUSH;
    int rc = Z_OK;
    do {
      size_t before = out->size();
      size_t room = std::max<size_t>(deflateBound(&s.z, s.z.avail_in), 16 * 1024);
      out->resize(before + room);
      s.z.next_out = reinterpret_cast<Bytef*>(out->data() + before);
      s.z.avail_out = static_cast<uInt>(room);
      rc = deflate(&s.z, flush);
      out->resize(before + room - s.z.avail_out);
      if (rc == Z_STREAM_ERROR) {
        s.ok = false;
        s.done = true;  // still holds zlib's state: freed by the destructor
        return false;
      }
    } while (s.z.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
  } while (!in.empty());
  if (finish) {
    s.ok = false;
    s.done = true;
  }
  return true;
}

std::string gzipFast(std::string_view data) {
  GzipWriter writer;
  std::string out;
  if (!writer.write(data, true, &out)) return {};
  return out;
}

}  // namespace kubehub::k8s
