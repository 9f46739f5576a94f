#include "proto/frame.h"

#include <algorithm>

namespace kubehub::proto {
namespace {

constexpr size_t kMaxString = 0xffff;

void putU16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}

void putU32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((v >> shift) & 0xff));
}

/// Callers check lengths first (checkFits, checkHeadersFit): nothing is ever truncated.
void putString(std::string& out, std::string_view s) {
  putU16(out, static_cast<uint16_t>(s.size()));
  out.append(s.data(), s.size());
}

/// RESET and GOAWAY reasons are prose for logs: a long one is shortened, never an error.
void putReason(std::string& out, std::string_view s) {
  putString(out, s.substr(0, std::min(s.size(), kMaxString)));
}

/// Bounds-checked reader over a payload.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool u16(uint16_t* v) {
    if (in_.size() - pos_ < 2) return false;
    *v = static_cast<uint16_t>((byte(0) << 8) | byte(1));
    pos_ += 2;
    return true;
  }
  bool u32(uint32_t* v) {
    if (in_.size() - pos_ < 4) return false;
    *v = (static_cast<uint32_t>(byte(0)) << 24) | (static_cast<uint32_t>(byte(1)) << 16) |
         (static_cast<uint32_t>(byte(2)) << 8) | static_cast<uint32_t>(byte(3));
    pos_ += 4;
    return true;
  }
  bool str(std::string* s) {
    uint16_t n = 0;
    if (!u16(&n)) return false;
    if (in_.size() - pos_ < n) return false;
    s->assign(in_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  bool rest(std::string* s) {
    s->assign(in_.data() + pos_, in_.size() - pos_);
    pos_ = in_.size();
    return true;
  }
  bool done() const { return pos_ == in_.size(); }

 private:
  uint32_t byte(size_t i) const { return static_cast<unsigned char>(in_[pos_ + i]); }
  std::string_view in_;
  size_t pos_ = 0;
};

bool isTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool knownType(uint8_t t) { return (t >= 0x01 && t <= 0x07) || (t >= 0x10 && t <= 0x13); }

bool connectionLevel(FrameType t) {
  switch (t) {
    case FrameType::kHello:
    case FrameType::kWelcome:
    case FrameType::kGoAway:
    case FrameType::kPing:
    case FrameType::kPong:
    case FrameType::kControl:
      return true;
    default:
      return false;
  }
}

absl::Status checkFits(std::string_view what, std::string_view s) {
  if (s.size() > kMaxString) {
    return absl::InvalidArgumentError(std::string(what) + " longer than 65535 bytes");
  }
  return absl::OkStatus();
}

absl::Status checkHeadersFit(const Headers& headers) {
  if (headers.size() > kMaxHeaders) {
    return absl::InvalidArgumentError("more than " + std::to_string(kMaxHeaders) + " headers (" +
                                      std::to_string(headers.size()) + ")");
  }
  for (const auto& [k, v] : headers) {
    if (k.size() > kMaxString || v.size() > kMaxString) {
      return absl::InvalidArgumentError("header " + k.substr(0, 64) + " longer than 65535 bytes");
    }
  }
  return absl::OkStatus();
}

void putHeaders(std::string& out, const Headers& headers) {
  putU16(out, static_cast<uint16_t>(headers.size()));
  for (const auto& [k, v] : headers) {
    putString(out, k);
    putString(out, v);
  }
}

absl::Status readHeaders(Reader& r, Headers* headers) {
  uint16_t count = 0;
  if (!r.u16(&count)) return absl::InvalidArgumentError("truncated header count");
  if (count > kMaxHeaders) return absl::InvalidArgumentError("too many headers");
  headers->reserve(count);
  for (uint16_t i = 0; i < count; ++i) {
    std::string name, value;
    if (!r.str(&name) || !r.str(&value)) return absl::InvalidArgumentError("truncated header");
    if (!isValidHeader(name, value)) {
      return absl::InvalidArgumentError("invalid header name or value");
    }
    headers->emplace_back(std::move(name), std::move(value));
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view frameTypeName(FrameType type) {
  switch (type) {
    case FrameType::kHello:
      return "HELLO";
    case FrameType::kWelcome:
      return "WELCOME";
    case FrameType::kGoAway:
      return "GOAWAY";
    case FrameType::kPing:
      return "PING";
    case FrameType::kPong:
      return "PONG";
    case FrameType::kWindow:
      return "WINDOW";
    case FrameType::kControl:
      return "CONTROL";
    case FrameType::kOpen:
      return "OPEN";
    case FrameType::kResponse:
      return "RESPONSE";
    case FrameType::kData:
      return "DATA";
    case FrameType::kReset:
      return "RESET";
  }
  return "UNKNOWN";
}

std::string_view resetCodeName(ResetCode code) {
  switch (code) {
    case ResetCode::kCancel:
      return "cancel";
    case ResetCode::kProtocolError:
      return "protocol_error";
    case ResetCode::kFlowControlError:
      return "flow_control_error";
    case ResetCode::kRefused:
      return "refused";
    case ResetCode::kUpstreamUnavailable:
      return "upstream_unavailable";
    case ResetCode::kTimeout:
      return "timeout";
    case ResetCode::kInternal:
      return "internal";
    case ResetCode::kTunnelClosed:
      return "tunnel_closed";
  }
  return "unknown";
}

bool isValidHeader(std::string_view name, std::string_view value) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!isTokenChar(c)) return false;
  }
  for (char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

absl::StatusOr<FrameView> decodeFrame(std::string_view bytes, size_t max_frame) {
  if (bytes.size() < kHeaderSize) {
    return absl::InvalidArgumentError("frame shorter than its 10-byte header");
  }
  auto b = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])); };
  if (!knownType(static_cast<uint8_t>(b(0)))) {
    return absl::InvalidArgumentError("unknown frame type " + std::to_string(b(0)));
  }
  FrameView f;
  f.type = static_cast<FrameType>(b(0));
  f.flags = static_cast<uint8_t>(b(1));
  f.stream = (b(2) << 24) | (b(3) << 16) | (b(4) << 8) | b(5);
  uint32_t length = (b(6) << 24) | (b(7) << 16) | (b(8) << 8) | b(9);
  if (length > max_frame - kHeaderSize) {
    return absl::InvalidArgumentError("frame of " + std::to_string(length + kHeaderSize) +
                                      " bytes exceeds the limit of " + std::to_string(max_frame));
  }
  if (bytes.size() - kHeaderSize < length) {
    return absl::InvalidArgumentError("truncated frame: header announces " +
                                      std::to_string(length) + " payload bytes, " +
                                      std::to_string(bytes.size() - kHeaderSize) + " present");
  }
  f.payload = bytes.substr(kHeaderSize, length);
  f.size = kHeaderSize + length;
  if (connectionLevel(f.type) && f.stream != 0) {
    return absl::InvalidArgumentError(std::string(frameTypeName(f.type)) +
                                      " frame must be on stream 0");
  }
  if (!connectionLevel(f.type) && f.type != FrameType::kWindow && f.stream == 0) {
    return absl::InvalidArgumentError(std::string(frameTypeName(f.type)) +
                                      " frame must not be on stream 0");
  }
  uint8_t allowed = 0;
  switch (f.type) {
    case FrameType::kOpen:
      allowed = kFlagEnd | kFlagInternal;
      break;
    case FrameType::kResponse:
    case FrameType::kData:
      allowed = kFlagEnd;
      break;
    case FrameType::kControl:
      allowed = kFlagMore;
      break;
    default:
      break;
  }
  if ((f.flags & ~allowed) != 0) {
    return absl::InvalidArgumentError("unknown flags on " + std::string(frameTypeName(f.type)) +
                                      " frame");
  }
  if ((f.type == FrameType::kPing || f.type == FrameType::kPong) && f.payload.size() != 8) {
    return absl::InvalidArgumentError("PING/PONG payload must be 8 bytes");
  }
  if (f.type == FrameType::kWindow && f.payload.size() != 4) {
    return absl::InvalidArgumentError("WINDOW payload must be 4 bytes");
  }
  return f;
}

absl::StatusOr<FrameView> decodeSingleFrame(std::string_view message, size_t max_frame) {
  auto f = decodeFrame(message, max_frame);
  if (f.ok() && f->size != message.size()) {
    return absl::InvalidArgumentError("trailing bytes after the frame");
  }
  return f;
}

std::string encodeFrame(FrameType type, uint8_t flags, uint32_t stream, std::string_view payload) {
  std::string out;
  out.reserve(kHeaderSize + payload.size());
  out.push_back(static_cast<char>(type));
  out.push_back(static_cast<char>(flags));
  putU32(out, stream);
  putU32(out, static_cast<uint32_t>(payload.size()));
  out.append(payload);
  return out;
}

absl::StatusOr<std::string> encodeRequestHead(const RequestHead& head) {
  if (auto s = checkFits("method", head.method); !s.ok()) return s;
  if (auto s = checkFits("request target", head.target); !s.ok()) return s;
  if (auto s = checkHeadersFit(head.headers); !s.ok()) return s;
  std::string out;
  putString(out, head.method);
  putString(out, head.target);
  putHeaders(out, head.headers);
  return out;
}

absl::StatusOr<RequestHead> decodeRequestHead(std::string_view payload) {
  Reader r(payload);
  RequestHead head;
  if (!r.str(&head.method) || !r.str(&head.target)) {
    return absl::InvalidArgumentError("truncated request head");
  }
  if (head.method.empty() || !isValidHeader(head.method, "")) {
    return absl::InvalidArgumentError("invalid method");
  }
  if (head.target.empty() || head.target.front() != '/' || !isValidHeader("x", head.target) ||
      head.target.find(' ') != std::string::npos) {
    return absl::InvalidArgumentError("invalid request target");
  }
  absl::Status s = readHeaders(r, &head.headers);
  if (!s.ok()) return s;
  if (!r.done()) return absl::InvalidArgumentError("trailing bytes after request head");
  return head;
}

absl::StatusOr<std::string> encodeResponseHead(const ResponseHead& head) {
  if (head.status < 100 || head.status > 599) {
    return absl::InvalidArgumentError("invalid status code " + std::to_string(head.status));
  }
  if (auto s = checkFits("reason", head.reason); !s.ok()) return s;
  if (auto s = checkHeadersFit(head.headers); !s.ok()) return s;
  std::string out;
  putU16(out, static_cast<uint16_t>(head.status));
  putString(out, head.reason);
  putHeaders(out, head.headers);
  return out;
}

absl::StatusOr<ResponseHead> decodeResponseHead(std::string_view payload) {
  Reader r(payload);
  ResponseHead head;
  uint16_t status = 0;
  if (!r.u16(&status) || !r.str(&head.reason)) {
    return absl::InvalidArgumentError("truncated response head");
  }
  if (status < 100 || status > 599) return absl::InvalidArgumentError("invalid status code");
  if (!isValidHeader("x", head.reason)) return absl::InvalidArgumentError("invalid reason");
  head.status = status;
  absl::Status s = readHeaders(r, &head.headers);
  if (!s.ok()) return s;
  if (!r.done()) return absl::InvalidArgumentError("trailing bytes after response head");
  return head;
}

std::string encodeWindow(uint32_t increment) {
  std::string out;
  putU32(out, increment);
  return out;
}

absl::StatusOr<uint32_t> decodeWindow(std::string_view payload) {
  Reader r(payload);
  uint32_t inc = 0;
  if (!r.u32(&inc) || !r.done())
    return absl::InvalidArgumentError("WINDOW payload must be 4 bytes");
  if (inc == 0 || inc > (1u << 30)) return absl::InvalidArgumentError("invalid WINDOW increment");
  return inc;
}

std::string encodeReset(const ResetInfo& info) {
  std::string out;
  putU32(out, static_cast<uint32_t>(info.code));
  putReason(out, info.reason);
  return out;
}

absl::StatusOr<ResetInfo> decodeReset(std::string_view payload) {
  Reader r(payload);
  uint32_t code = 0;
  ResetInfo info;
  if (!r.u32(&code) || !r.str(&info.reason) || !r.done()) {
    return absl::InvalidArgumentError("malformed RESET payload");
  }
  info.code = code <= static_cast<uint32_t>(ResetCode::kTunnelClosed) ? static_cast<ResetCode>(code)
                                                                      : ResetCode::kInternal;
  return info;
}

std::string encodeGoAway(const GoAwayInfo& info) {
  std::string out;
  putU32(out, static_cast<uint32_t>(info.code));
  putReason(out, info.reason);
  return out;
}

absl::StatusOr<GoAwayInfo> decodeGoAway(std::string_view payload) {
  Reader r(payload);
  uint32_t code = 0;
  GoAwayInfo info;
  if (!r.u32(&code) || !r.str(&info.reason) || !r.done()) {
    return absl::InvalidArgumentError("malformed GOAWAY payload");
  }
  info.code = code <= static_cast<uint32_t>(GoAwayCode::kAlreadyConnected)
                  ? static_cast<GoAwayCode>(code)
                  : GoAwayCode::kProtocolError;
  return info;
}

}  // namespace kubehub::proto
