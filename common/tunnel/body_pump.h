#pragma once
/// The byte pumps between a tunnel stream and a TLS connection, written once for both ends of
/// the tunnel: the hub (user's connection ⇄ stream) and the agent (stream ⇄ API server's
/// connection). Every write has a deadline; the reads that only wait for the peer's next bytes
/// (an upgraded stream, a watch's client) have none, and clear the expiry a concurrent write set
/// so they never inherit it (see readSomeNoDeadline).
/// All functions run on the connection's executor; at most one read and one write in flight on
/// it, as for any Asio stream.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <tuple>

#include "common/net/tls_stream.h"
#include "common/net/websocket_frames.h"
#include "common/tunnel/stream.h"

namespace kubehub::tunnel {

/// A body buffer that starts small and grows to its largest size once a read fills it (a log
/// or exec stream that keeps it full), kept for the connection's life. Left uninitialised.
class ChunkBuffer {
 public:
  ChunkBuffer(size_t start, size_t max) : start_(start), max_(max) {}
  /// The buffer, grown to the largest size when `filled_up` (its contents are not kept).
  char* get(bool filled_up = false);
  size_t size() const { return size_; }
  /// Frees the buffer if it grew past its starting size (a connection going idle after a large
  /// body keeps no more than the start).
  void trim() {
    if (size_ > start_) {
      data_.reset();
      size_ = 0;
    }
  }

 private:
  size_t start_, max_;
  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
};

/// Writes up to three buffers (a head, the bytes, a trailer) in one write, within `timeout`.
/// Takes buffers one by one: braced lists as coroutine arguments trip a GCC 12 bug.
boost::asio::awaitable<bool> writeAll(net::TlsStream* s, std::chrono::milliseconds timeout,
                                      boost::asio::const_buffer a, boost::asio::const_buffer b = {},
                                      boost::asio::const_buffer c = {});

/// Reads whatever the peer sends next, without a deadline. beast's tcp_stream keeps one expiry
/// per direction and a read arms its timer from the expiry in force when it starts; writeAll
/// sets that expiry for both directions while no read is pending, so a read started during a
/// write would inherit the write's deadline and cut every long stream after it. Clearing it
/// first touches only the idle read direction, never a pending write's deadline.
boost::asio::awaitable<std::tuple<boost::system::error_code, size_t>> readSomeNoDeadline(
    net::TlsStream* s, boost::asio::mutable_buffer into);

/// How streamToSocket frames and bounds what it writes. (A plain struct of views and pointers:
/// GCC 12 destroys class-type coroutine arguments with non-trivial destructors twice.)
struct PumpOut {
  /// Chunk-encode (an HTTP/1.1 body of unknown length), the last chunk written at the end.
  bool chunked = false;
  /// Chunked: when the stream fails, still write the last chunk, so the body ends as if the
  /// server had closed it (a watch whose tunnel dropped: clients watch again).
  bool end_cleanly_on_error = false;
  std::chrono::milliseconds timeout{60000};
  /// Not chunked: one write (one TLS record at least) per WebSocket frame, never two frames'
  /// bytes in one, when set.
  net::WebSocketFrameBoundaries* frames = nullptr;
  /// Written with the first bytes (and, when they are all there is, the end): one write for a
  /// small answer. The caller's; it outlives the call.
  std::string_view head;
  /// Counts the body bytes written, when set.
  uint64_t* bytes = nullptr;
  /// Names the connection's peer in the stream's reset reason ("client", "API server").
  std::string_view peer = "peer";
  /// Reset the stream when the connection fails. Off where the connection's other direction
  /// may still carry an answer (the agent's upload: an API server may answer early, then close).
  bool reset_on_write_error = true;
};

/// Copies the stream's bytes to the connection until the stream ends (true) or fails or the
/// connection does (false; the stream is reset when the connection failed, unless told not to).
/// Credit is returned (Stream::consumed) only once bytes are written, so a slow reader slows this
/// stream alone.
boost::asio::awaitable<bool> streamToSocket(net::TlsStream* s, std::shared_ptr<Stream> stream,
                                            PumpOut out);

/// After a 101: the connection's bytes (first what `leftover` holds, read past the response or
/// request head) to the stream, until the connection ends or the stream refuses more. Returns
/// the connection's error (net::error::eof or ssl::error::stream_truncated when it closed) or
/// none when the stream refused; what follows (half-close, reset) is the caller's.
boost::asio::awaitable<boost::system::error_code> socketToStream(
    net::TlsStream* s, boost::beast::flat_buffer* leftover, std::shared_ptr<Stream> stream,
    ChunkBuffer* buffer);

/// Whether more of the connection's bytes can be read without waiting: in the parse buffer,
/// decrypted or undecrypted inside the TLS layer, or in the kernel. Two bytes left in the parse
/// buffer do not count: that is the CRLF ending a chunk, which the parser keeps until the next
/// chunk's header arrives (for a watch, maybe minutes later).
bool moreReadable(net::TlsStream& s, const boost::beast::flat_buffer& buffer);

/// How parsedBodyToStream reads, and what it says when the connection fails. (Passed by value,
/// never defaulted: see PumpOut.)
struct PumpIn {
  /// Deadline for each read; zero: none (a watch or a followed log may be quiet for long).
  std::chrono::milliseconds timeout{0};
  /// The stream's reset when the connection fails: the code, and what was being read
  /// ("client request body", "API server response"), before the error.
  proto::ResetCode reset_code = proto::ResetCode::kCancel;
  std::string_view what = "body";
  /// Called once before the first bytes go to the stream, or before a read that would wait, or
  /// at the end: a response head held back to travel with the first bytes.
  std::function<void()> send_head;
};

/// An HTTP message body, as the parser (whose head has been read) decodes it, to the stream,
/// then the stream's end. What has already arrived is gathered into one write (up to the
/// buffer's size), but nothing waits for more: a lone watch event or log line goes out at once.
/// False when the connection failed (the stream reset) or the stream refused the bytes.
template <bool isRequest>
boost::asio::awaitable<bool> parsedBodyToStream(
    net::TlsStream* s, boost::beast::flat_buffer* buffer,
    boost::beast::http::parser<isRequest, boost::beast::http::buffer_body>* parser,
    std::shared_ptr<Stream> stream, ChunkBuffer* chunk, PumpIn in);

}  // namespace kubehub::tunnel
