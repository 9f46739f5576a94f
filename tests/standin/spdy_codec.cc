#include "tests/standin/spdy_codec.h"

#include <zlib.h>

#include <cctype>

#include "absl/status/status.h"

namespace kubehub::standin::spdy {
namespace {

constexpr uint16_t kVersion = 3;
constexpr size_t kFrameHead = 8;
/// More than any header block kubectl sends; bounds what one frame can make us allocate.
constexpr size_t kMaxHeaderBlock = 256 * 1024;
constexpr size_t kMaxFrame = 16 * 1024 * 1024;

void put32(std::string& out, uint32_t v) {
  out.push_back(static_cast<char>(v >> 24));
  out.push_back(static_cast<char>(v >> 16));
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

uint32_t get32(std::string_view s, size_t at) {
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(s[at + i])); };
  return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

std::string controlHead(uint16_t type, uint8_t flags, size_t length) {
  std::string out;
  out.reserve(kFrameHead + length);
  put32(out, 0x80000000u | (static_cast<uint32_t>(kVersion) << 16) | type);
  put32(out, (static_cast<uint32_t>(flags) << 24) | static_cast<uint32_t>(length));
  return out;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

const std::string& headerDictionary() {
  // The SPDY/3 specification's dictionary: length-prefixed header names and values, then a
  // run of common value fragments.
  static const std::string dict = [] {
    static constexpr const char* kWords[] = {"options",
                                             "head",
                                             "post",
                                             "put",
                                             "delete",
                                             "trace",
                                             "accept",
                                             "accept-charset",
                                             "accept-encoding",
                                             "accept-language",
                                             "accept-ranges",
                                             "age",
                                             "allow",
                                             "authorization",
                                             "cache-control",
                                             "connection",
                                             "content-base",
                                             "content-encoding",
                                             "content-language",
                                             "content-length",
                                             "content-location",
                                             "content-md5",
                                             "content-range",
                                             "content-type",
                                             "date",
                                             "etag",
                                             "expect",
                                             "expires",
                                             "from",
                                             "host",
                                             "if-match",
                                             "if-modified-since",
                                             "if-none-match",
                                             "if-range",
                                             "if-unmodified-since",
                                             "last-modified",
                                             "location",
                                             "max-forwards",
                                             "pragma",
                                             "proxy-authenticate",
                                             "proxy-authorization",
                                             "range",
                                             "referer",
                                             "retry-after",
                                             "server",
                                             "te",
                                             "trailer",
                                             "transfer-encoding",
                                             "upgrade",
                                             "user-agent",
                                             "vary",
                                             "via",
                                             "warning",
                                             "www-authenticate",
                                             "method",
                                             "get",
                                             "status",
                                             "200 OK",
                                             "version",
                                             "HTTP/1.1",
                                             "url",
                                             "public",
                                             "set-cookie",
                                             "keep-alive",
                                             "origin"};
    std::string d;
    for (const char* w : kWords) {
      std::string_view word(w);
      put32(d, static_cast<uint32_t>(word.size()));
      d += word;
    }
    d += "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504"
         "505203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad "
         "Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not "
         "Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec "
         "00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,"
         "image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,"
         "publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";
    return d;
  }();
  return dict;
}

std::optional<std::string> headerValue(const Headers& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (k.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < k.size() && same; ++i) {
      same = std::tolower(static_cast<unsigned char>(k[i])) ==
             std::tolower(static_cast<unsigned char>(name[i]));
    }
    if (same) return v.substr(0, v.find('\0'));
  }
  return std::nullopt;
}

std::string encodeHeaderBlock(const Headers& headers) {
  std::string out;
  put32(out, static_cast<uint32_t>(headers.size()));
  for (const auto& [k, v] : headers) {
    put32(out, static_cast<uint32_t>(k.size()));
    out += lower(k);
    put32(out, static_cast<uint32_t>(v.size()));
    out += v;
  }
  return out;
}

absl::StatusOr<Headers> decodeHeaderBlock(std::string_view block) {
  auto truncated = [] { return absl::InvalidArgumentError("truncated SPDY header block"); };
  if (block.size() < 4) return truncated();
  uint32_t count = get32(block, 0);
  size_t at = 4;
  if (count > block.size() / 8) return absl::InvalidArgumentError("SPDY header count too large");
  Headers out;
  out.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    std::string parts[2];
    for (std::string& part : parts) {
      if (block.size() - at < 4) return truncated();
      uint32_t len = get32(block, at);
      at += 4;
      if (block.size() - at < len) return truncated();
      part.assign(block.substr(at, len));
      at += len;
    }
    out.emplace_back(lower(std::move(parts[0])), std::move(parts[1]));
  }
  return out;
}

// ---- reading ----

struct FrameReader::Inflater {
  Inflater() { inflateInit(&z); }
  ~Inflater() { inflateEnd(&z); }
  z_stream z{};

  absl::StatusOr<std::string> inflate(std::string_view in) {
    std::string out;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    char chunk[4096];
    while (true) {
      z.next_out = reinterpret_cast<Bytef*>(chunk);
      z.avail_out = sizeof(chunk);
      int rc = ::inflate(&z, Z_SYNC_FLUSH);
      if (rc == Z_NEED_DICT) {
        const std::string& d = headerDictionary();
        rc = inflateSetDictionary(&z, reinterpret_cast<const Bytef*>(d.data()),
                                  static_cast<uInt>(d.size()));
        if (rc != Z_OK) return absl::InvalidArgumentError("SPDY header dictionary mismatch");
        continue;
      }
      out.append(chunk, sizeof(chunk) - z.avail_out);
      if (out.size() > kMaxHeaderBlock) {
        return absl::InvalidArgumentError("SPDY header block too large");
      }
      if (rc == Z_BUF_ERROR || (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0)) break;
      if (rc != Z_OK) {
        return absl::InvalidArgumentError("SPDY header block does not inflate: " +
                                          std::string(z.msg ? z.msg : "zlib error"));
      }
    }
    return out;
  }
};

FrameReader::FrameReader() : inflater_(std::make_unique<Inflater>()) {}
FrameReader::~FrameReader() = default;

void FrameReader::feed(std::string_view bytes) {
  if (pos_ > 0 && pos_ >= buf_.size() / 2) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

absl::StatusOr<std::optional<Frame>> FrameReader::next() {
  std::string_view in(buf_);
  in.remove_prefix(pos_);
  if (in.size() < kFrameHead) return std::nullopt;
  uint32_t first = get32(in, 0);
  uint32_t second = get32(in, 4);
  size_t length = second & 0xffffff;
  if (length > kMaxFrame) return absl::InvalidArgumentError("SPDY frame too large");
  if (in.size() < kFrameHead + length) return std::nullopt;
  std::string_view body = in.substr(kFrameHead, length);
  pos_ += kFrameHead + length;

  Frame f;
  f.flags = static_cast<uint8_t>(second >> 24);
  if ((first & 0x80000000u) == 0) {
    f.stream_id = first & 0x7fffffff;
    f.data.assign(body);
    return f;
  }
  f.control = true;
  uint16_t version = static_cast<uint16_t>((first >> 16) & 0x7fff);
  if (version != kVersion) {
    return absl::InvalidArgumentError("SPDY version " + std::to_string(version) +
                                      " is not supported (3 is)");
  }
  f.type = static_cast<uint16_t>(first & 0xffff);
  auto need = [&](size_t n) -> absl::Status {
    if (body.size() < n) return absl::InvalidArgumentError("short SPDY control frame");
    return absl::OkStatus();
  };
  size_t block_at = 0;
  switch (f.type) {
    case kSynStream:
      if (auto s = need(10); !s.ok()) return s;
      f.stream_id = get32(body, 0) & 0x7fffffff;
      block_at = 10;
      break;
    case kSynReply:
    case kHeaders:
      if (auto s = need(4); !s.ok()) return s;
      f.stream_id = get32(body, 0) & 0x7fffffff;
      block_at = 4;
      break;
    case kRstStream:
    case kWindowUpdate:
      if (auto s = need(8); !s.ok()) return s;
      f.stream_id = get32(body, 0) & 0x7fffffff;
      f.value = get32(body, 4);
      return f;
    case kPing:
      if (auto s = need(4); !s.ok()) return s;
      f.value = get32(body, 0);
      return f;
    case kGoAway:
      if (auto s = need(4); !s.ok()) return s;
      f.value = get32(body, 0) & 0x7fffffff;
      return f;
    default:
      return f;  // SETTINGS and anything newer: nothing the stand-in acts on
  }
  auto block = inflater_->inflate(body.substr(block_at));
  if (!block.ok()) return block.status();
  auto headers = decodeHeaderBlock(*block);
  if (!headers.ok()) return headers.status();
  f.headers = std::move(*headers);
  return f;
}

// ---- writing ----

struct FrameWriter::Deflater {
  Deflater() {
    deflateInit(&z, Z_BEST_COMPRESSION);
    const std::string& d = headerDictionary();
    deflateSetDictionary(&z, reinterpret_cast<const Bytef*>(d.data()), static_cast<uInt>(d.size()));
  }
  ~Deflater() { deflateEnd(&z); }
  z_stream z{};
};

FrameWriter::FrameWriter() : deflater_(std::make_unique<Deflater>()) {}
FrameWriter::~FrameWriter() = default;

std::string FrameWriter::compressed(const Headers& headers) {
  std::string block = encodeHeaderBlock(headers);
  z_stream& z = deflater_->z;
  z.next_in = reinterpret_cast<Bytef*>(block.data());
  z.avail_in = static_cast<uInt>(block.size());
  std::string out;
  char chunk[4096];
  do {
    z.next_out = reinterpret_cast<Bytef*>(chunk);
    z.avail_out = sizeof(chunk);
    ::deflate(&z, Z_SYNC_FLUSH);
    out.append(chunk, sizeof(chunk) - z.avail_out);
  } while (z.avail_out == 0);
  return out;
}

std::string FrameWriter::synStream(uint32_t stream_id, const Headers& headers, uint8_t flags) {
  std::string block = compressed(headers);
  std::string out = controlHead(kSynStream, flags, 10 + block.size());
  put32(out, stream_id & 0x7fffffff);
  put32(out, 0);     // associated stream
  out.push_back(0);  // priority
  out.push_back(0);  // slot
  out += block;
  return out;
}

std::string FrameWriter::synReply(uint32_t stream_id, const Headers& headers, uint8_t flags) {
  std::string block = compressed(headers);
  std::string out = controlHead(kSynReply, flags, 4 + block.size());
  put32(out, stream_id & 0x7fffffff);
  out += block;
  return out;
}

std::string FrameWriter::dataHead(uint32_t stream_id, size_t length, bool fin) {
  std::string out;
  put32(out, stream_id & 0x7fffffff);
  put32(out, (static_cast<uint32_t>(fin ? kFlagFin : 0) << 24) | static_cast<uint32_t>(length));
  return out;
}

std::string FrameWriter::data(uint32_t stream_id, std::string_view payload, bool fin) {
  std::string out = dataHead(stream_id, payload.size(), fin);
  out += payload;
  return out;
}

std::string FrameWriter::rstStream(uint32_t stream_id, uint32_t status) {
  std::string out = controlHead(kRstStream, 0, 8);
  put32(out, stream_id & 0x7fffffff);
  put32(out, status);
  return out;
}

std::string FrameWriter::ping(uint32_t id) {
  std::string out = controlHead(kPing, 0, 4);
  put32(out, id);
  return out;
}

std::string FrameWriter::goAway(uint32_t last_good_stream_id, uint32_t status) {
  std::string out = controlHead(kGoAway, 0, 8);
  put32(out, last_good_stream_id & 0x7fffffff);
  put32(out, status);
  return out;
}

}  // namespace kubehub::standin::spdy
