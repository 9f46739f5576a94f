#pragma once
/// Turns the bytes of an HTTP/1.1 response, as the hub's cache serving writes them to a user's
/// connection, into what a tunnel stream carries: the head (status, reason, headers) and the
/// body without HTTP's framing (a Content-Length body as is, a chunked one de-chunked). The
/// owner hub uses it to answer a peer hub's stream from its cache (peer_server.cc); the entry
/// hub frames the body again for its client. Bytes may arrive in pieces of any size. Pure.

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "proto/frame.h"

namespace kubehub::hub {

class ResponseReframer {
 public:
  struct Output {
    /// Set once, by the feed() that completes the head.
    std::optional<proto::ResponseHead> head;
    std::string body;
    /// The response is complete (its last byte was fed).
    bool end = false;
  };

  /// `head_only`: a response to HEAD (no body whatever its headers say).
  explicit ResponseReframer(bool head_only = false) : head_only_(head_only) {}

  /// InvalidArgument when the bytes are not an HTTP/1.1 response (a bug in the writer); bytes
  /// after the end of the response are an error too.
  absl::StatusOr<Output> feed(std::string_view bytes);

 private:
  enum class State { kHead, kLengthBody, kChunkSize, kChunkData, kChunkDataEnd, kTrailer, kDone };
  absl::Status parseHead(std::string_view text, Output* out);

  bool head_only_;
  State state_ = State::kHead;
  std::string pending_;  // an incomplete head, size line or trailer
  uint64_t remaining_ = 0;
};

}  // namespace kubehub::hub
