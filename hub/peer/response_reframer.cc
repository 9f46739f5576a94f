#include "hub/peer/response_reframer.h"

#include "absl/strings/numbers.h"
#include "common/net/http_headers.h"

namespace kubehub::hub {

namespace {

/// Header and size lines are short: anything longer is not what the cache writes.
constexpr size_t kMaxLine = 64 * 1024;

absl::string_view av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

absl::Status ResponseReframer::parseHead(std::string_view text, Output* out) {
  // Status line: HTTP/1.1 SP code SP reason.
  size_t eol = text.find("\r\n");
  std::string_view line = text.substr(0, eol);
  if (line.substr(0, 9) != "HTTP/1.1 " || line.size() < 12)
    return absl::InvalidArgumentError("response: bad status line");
  int status = 0;
  if (!absl::SimpleAtoi(av(line.substr(9, 3)), &status) || status < 100 || status > 999)
    return absl::InvalidArgumentError("response: bad status code");
  proto::ResponseHead head;
  head.status = status;
  if (line.size() > 13) head.reason = std::string(line.substr(13));
  bool chunked = false;
  std::optional<uint64_t> length;
  size_t pos = eol == std::string_view::npos ? text.size() : eol + 2;
  while (pos < text.size()) {
    size_t end = text.find("\r\n", pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view field = text.substr(pos, end - pos);
    pos = end + 2;
    if (field.empty()) continue;
    size_t colon = field.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return absl::InvalidArgumentError("response: bad header line");
    std::string_view name = field.substr(0, colon);
    std::string_view value = trim(field.substr(colon + 1));
    if (net::iequals(name, "Transfer-Encoding")) {
      chunked = net::headerHasToken(value, "chunked");
      continue;  // framing of this hop only
    }
    if (net::iequals(name, "Content-Length")) {
      uint64_t n = 0;
      if (!absl::SimpleAtoi(av(value), &n))
        return absl::InvalidArgumentError("response: bad length");
      length = n;
    }
    head.headers.emplace_back(std::string(name), std::string(value));
  }
  out->head = std::move(head);
  bool no_body = head_only_ || status == 204 || status == 304 || (status >= 100 && status < 200);
  if (no_body) {
    state_ = State::kDone;
  } else if (chunked) {
    state_ = State::kChunkSize;
  } else if (length) {
    remaining_ = *length;
    state_ = remaining_ == 0 ? State::kDone : State::kLengthBody;
  } else {
    return absl::InvalidArgumentError("response: neither Content-Length nor chunked");
  }
  return absl::OkStatus();
}

absl::StatusOr<ResponseReframer::Output> ResponseReframer::feed(std::string_view bytes) {
  Output out;
  while (!bytes.empty() || (state_ == State::kDone && !out.end)) {
    switch (state_) {
      case State::kHead: {
        size_t before = pending_.size();
        pending_.append(bytes);
        size_t end = pending_.find("\r\n\r\n", before >= 3 ? before - 3 : 0);
        if (end == std::string::npos) {
          if (pending_.size() > kMaxLine)
            return absl::InvalidArgumentError("response: head too long");
          return out;
        }
        std::string head_text = pending_.substr(0, end + 2);
        size_t used = end + 4 - before;  // bytes of this feed that belong to the head
        bytes.remove_prefix(used);
        pending_.clear();
        if (absl::Status s = parseHead(head_text, &out); !s.ok()) return s;
        break;
      }
      case State::kLengthBody: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, bytes.size()));
        out.body.append(bytes.substr(0, n));
        bytes.remove_prefix(n);
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::kDone;
        break;
      }
      case State::kChunkSize:
      case State::kTrailer: {
        size_t nl = bytes.find('\n');
        if (nl == std::string_view::npos) {
          pending_.append(bytes);
          if (pending_.size() > kMaxLine)
            return absl::InvalidArgumentError("response: line too long");
          return out;
        }
        pending_.append(bytes.substr(0, nl + 1));
        bytes.remove_prefix(nl + 1);
        std::string_view line = trim(std::string_view(pending_).substr(0, pending_.size() - 1));
        if (state_ == State::kTrailer) {
          if (line.empty()) state_ = State::kDone;
          pending_.clear();
          break;
        }
        line = line.substr(0, line.find(';'));  // chunk extensions
        uint64_t size = 0;
        if (line.empty() || !absl::SimpleHexAtoi(av(line), &size))
          return absl::InvalidArgumentError("response: bad chunk size");
        pending_.clear();
        remaining_ = size;
        state_ = size == 0 ? State::kTrailer : State::kChunkData;
        break;
      }
      case State::kChunkData: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, bytes.size()));
        out.body.append(bytes.substr(0, n));
        bytes.remove_prefix(n);
        remaining_ -= n;
        if (remaining_ == 0) {
          state_ = State::kChunkDataEnd;
          remaining_ = 2;  // CRLF after the data
        }
        break;
      }
      case State::kChunkDataEnd: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, bytes.size()));
        if (bytes.substr(0, n) != std::string_view("\r\n").substr(2 - remaining_, n))
          return absl::InvalidArgumentError("response: chunk not followed by CRLF");
        bytes.remove_prefix(n);
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::kChunkSize;
        break;
      }
      case State::kDone:
        if (!bytes.empty()) return absl::InvalidArgumentError("response: bytes after its end");
        out.end = true;
        break;
    }
  }
  return out;
}

}  // namespace kubehub::hub
