#pragma once
/// TLS over beast::tcp_stream for every TLS hop kubehub serves or dials (tunnels, peer links,
/// users' connections, the agent's API server connections, the HTTP server and client): OpenSSL
/// through a BIO over buffers the stream holds only while bytes are in flight, many TLS records
/// per socket syscall. A drop-in for beast::ssl_stream<beast::tcp_stream> under
/// beast::websocket::stream and beast::http.
/// Thread rules: as for any Asio stream, at most one read and one write in flight (handshake
/// and shutdown alone), all operations started from the stream's executor (its strand).
///
/// Why not beast::ssl_stream: Asio's ssl::stream keeps ~68 KiB of fixed record buffers and a BIO
/// pair per connection for its whole life, and moves at most one ~17 KiB record per syscall,
/// each through several posted handlers. Here:
/// - a read takes everything the socket has (up to kMaxReadBytes, sized from available()), and
///   SSL_read serves callers from it until it is drained; an idle read holds kIdleReadBytes;
/// - a write encrypts up to kMaxWriteBytes of plaintext (several records) and sends them with
///   one write; it completes with the plaintext count once they are on the socket;
/// - what SSL_read itself produces (alerts, TLS 1.3 key-update answers) waits in a pending
///   output buffer that the next write, handshake or shutdown sends first: a buffer with a
///   socket write in flight is never touched. A stream that only ever reads never sends them,
///   which is harmless for a key update (the peer does not wait for the answer);
/// - buffers are freed when drained, so an idle connection holds the SSL object and a small
///   read buffer (SSL_MODE_RELEASE_BUFFERS frees OpenSSL's own record buffers).
/// Errors: the peer's close_notify reads as net::error::eof; the socket closing without one as
/// ssl::error::stream_truncated (as with Asio's stream); TLS failures in Asio's ssl category.

#include <openssl/ssl.h>

#include <array>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/teardown.hpp>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

namespace kubehub::net {

namespace detail {

/// The OpenSSL side of a TlsStream, without I/O: TLS records in (prepareInput/commitInput),
/// TLS records out (takeOutput/outputSent), plaintext through handshake/read/write/shutdown.
class TlsEngine {
 public:
  enum class Step { kDone, kNeedInput, kFailed };

  explicit TlsEngine(SSL_CTX* context);
  ~TlsEngine();
  TlsEngine(const TlsEngine&) = delete;
  TlsEngine& operator=(const TlsEngine&) = delete;

  SSL* ssl() const { return ssl_; }

  void setRole(boost::asio::ssl::stream_base::handshake_type type);
  Step handshake(boost::system::error_code& ec);
  /// Plaintext into `buffers` (as much as the records already received give); kNeedInput when
  /// none is available yet.
  Step read(const boost::asio::mutable_buffer* buffers, size_t count, size_t& bytes,
            boost::system::error_code& ec);
  /// Encrypts up to kMaxWriteBytes of `buffers` into the output; returns the plaintext count.
  size_t write(const boost::asio::const_buffer* buffers, size_t count,
               boost::system::error_code& ec);
  /// Sends close_notify (once), then kNeedInput until the peer's arrives (data is discarded).
  Step shutdown(boost::system::error_code& ec);

  /// Where the next socket read goes, sized from the bytes the socket has waiting. Only called
  /// once the engine asked for input (everything received before was consumed).
  boost::asio::mutable_buffer prepareInput(size_t available);
  void commitInput(size_t bytes);

  bool hasOutput() const { return !pending_.empty(); }
  /// Moves the pending output into the send buffer; valid until outputSent().
  boost::asio::const_buffer takeOutput();
  void outputSent();

  /// What a socket EOF means now: eof after the peer's close_notify, else stream_truncated.
  boost::system::error_code eofError() const;
  /// Bytes of buffers held (capacity), for tests and memory accounting.
  size_t heldBytes() const;
  /// Plaintext OpenSSL holds plus records received and not yet decrypted.
  size_t bufferedInput() const;
  /// Frees the socket read buffer when it holds nothing (it is allocated again by the next
  /// prepareInput, sized by what is waiting then).
  void releaseInput();

  // The BIO's side.
  int bioRead(char* data, size_t size, size_t* read);
  void bioWrite(const char* data, size_t size);

 private:
  boost::system::error_code lastError(int ssl_error) const;

  SSL* ssl_ = nullptr;
  std::unique_ptr<char[]> in_;
  size_t in_capacity_ = 0;
  size_t in_begin_ = 0;
  size_t in_end_ = 0;
  std::string pending_;  // produced, not yet handed to a socket write
  std::string sending_;  // the socket write in flight
};

constexpr size_t kMaxBuffersPerOperation = 16;

template <class Buffer, class Sequence>
size_t collectBuffers(const Sequence& buffers, std::array<Buffer, kMaxBuffersPerOperation>& out) {
  size_t count = 0;
  for (auto it = boost::asio::buffer_sequence_begin(buffers),
            end = boost::asio::buffer_sequence_end(buffers);
       it != end && count < out.size(); ++it) {
    Buffer b(*it);
    if (b.size() != 0) out[count++] = b;
  }
  return count;
}

}  // namespace detail

class TlsStream {
 public:
  using executor_type = boost::beast::tcp_stream::executor_type;
  using next_layer_type = boost::beast::tcp_stream;
  using handshake_type = boost::asio::ssl::stream_base::handshake_type;

  /// Plaintext per write operation (callers loop, as for any write_some).
  static constexpr size_t kMaxWriteBytes = 256 * 1024;
  /// Bounds of one socket read: the smaller one while nothing is waiting (an idle connection).
  static constexpr size_t kIdleReadBytes = 4 * 1024;
  static constexpr size_t kMaxReadBytes = 512 * 1024;

  /// The SSL object takes its own reference on `context`'s SSL_CTX.
  TlsStream(boost::beast::tcp_stream stream, boost::asio::ssl::context& context);
  TlsStream(const executor_type& executor, boost::asio::ssl::context& context);
  TlsStream(TlsStream&&) noexcept;
  /// Takes `other`'s connection (its socket and TLS session) onto `executor`, so that a
  /// connection can move to the thread of the tunnel it uses. No operation may be in flight on
  /// `other`, which is left closed. The socket keeps its descriptor and options.
  TlsStream(TlsStream&& other, const executor_type& executor);
  TlsStream& operator=(TlsStream&&) = delete;
  ~TlsStream();

  executor_type get_executor() noexcept { return stream_.get_executor(); }
  next_layer_type& next_layer() noexcept { return stream_; }
  const next_layer_type& next_layer() const noexcept { return stream_; }
  SSL* native_handle() const { return engine_->ssl(); }

  /// Server name indication for a client handshake.
  bool setServerName(const std::string& host);
  /// A client handshake fails unless the server's certificate names `host` (DNS name or IP).
  bool verifyHostName(const std::string& host);
  size_t heldBufferBytes() const { return engine_->heldBytes(); }
  /// Bytes received and not yet read by the caller (decrypted or still as records); the socket's
  /// own queue is not counted.
  size_t bufferedInputBytes() const { return engine_->bufferedInput(); }
  /// When on, a read that finds nothing to read waits for the socket to become readable before
  /// it allocates a buffer, so that an idle connection holds none (a tunnel: thousands idle).
  /// That wait is on the socket itself and does not honour tcp_stream's expiry: turn it on only
  /// while no read deadline is set on the tcp_stream.
  void setWaitUnbufferedWhenIdle(bool on) { wait_unbuffered_ = on; }

  template <class Token = boost::asio::default_completion_token_t<executor_type>>
  auto async_handshake(handshake_type type, Token&& token = Token()) {
    engine_->setRole(type);
    return boost::asio::async_compose<Token, void(boost::system::error_code)>(
        ControlOp{*this, false}, token, stream_);
  }

  /// Sends close_notify and waits for the peer's (the socket stays open: see teardown).
  template <class Token = boost::asio::default_completion_token_t<executor_type>>
  auto async_shutdown(Token&& token = Token()) {
    return boost::asio::async_compose<Token, void(boost::system::error_code)>(
        ControlOp{*this, true}, token, stream_);
  }

  template <class MutableBufferSequence,
            class Token = boost::asio::default_completion_token_t<executor_type>>
  auto async_read_some(const MutableBufferSequence& buffers, Token&& token = Token()) {
    return boost::asio::async_compose<Token, void(boost::system::error_code, size_t)>(
        ReadOp<MutableBufferSequence>{*this, buffers}, token, stream_);
  }

  template <class ConstBufferSequence,
            class Token = boost::asio::default_completion_token_t<executor_type>>
  auto async_write_some(const ConstBufferSequence& buffers, Token&& token = Token()) {
    return boost::asio::async_compose<Token, void(boost::system::error_code, size_t)>(
        WriteOp<ConstBufferSequence>{*this, buffers}, token, stream_);
  }

  /// Best effort, blocking: sends close_notify without waiting for the peer's.
  void sendCloseNotify(boost::system::error_code& ec);

 private:
  using Step = detail::TlsEngine::Step;
  enum class State { kStart, kWaiting, kReading, kWriting, kPosted };

  size_t socketAvailable() {
    boost::system::error_code ignored;
    return stream_.socket().available(ignored);
  }

  /// An operation never completes inside its initiating function: it stores its result, posts
  /// itself (one handler), and completes from there (kPosted).
  template <class Self>
  void post(Self& self) {
    boost::asio::post(stream_.get_executor(), std::move(self));
  }

  /// `available`: what the socket holds now, if the caller just asked (one ioctl per read).
  template <class Self>
  void readSocket(Self& self, std::optional<size_t> available = std::nullopt) {
    stream_.async_read_some(engine_->prepareInput(available ? *available : socketAvailable()),
                            std::move(self));
  }

  template <class Self>
  void writeSocket(Self& self) {
    boost::asio::async_write(stream_, engine_->takeOutput(), std::move(self));
  }

  template <class Buffers>
  struct ReadOp {
    TlsStream& s;
    Buffers buffers;
    State state = State::kStart;
    boost::system::error_code result{};
    size_t plaintext = 0;

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}, size_t bytes = 0) {
      if (state == State::kPosted) return self.complete(result, plaintext);
      if (state == State::kWaiting) {
        if (ec) return self.complete(ec, size_t{0});
        state = State::kReading;
        return s.readSocket(self);
      }
      if (state == State::kReading) {
        if (ec) {
          if (ec == boost::asio::error::eof) ec = s.engine_->eofError();
          return self.complete(ec, size_t{0});
        }
        s.engine_->commitInput(bytes);
      }
      bool initiating = state == State::kStart;
      std::array<boost::asio::mutable_buffer, detail::kMaxBuffersPerOperation> b;
      size_t count = detail::collectBuffers(buffers, b);
      Step step = s.engine_->read(b.data(), count, plaintext, result);
      if (step == Step::kNeedInput) {
        std::optional<size_t> available;
        if (s.wait_unbuffered_ && s.engine_->bufferedInput() == 0) {
          available = s.socketAvailable();
          if (*available == 0) {
            s.engine_->releaseInput();
            state = State::kWaiting;
            return s.stream_.socket().async_wait(boost::asio::socket_base::wait_read,
                                                 std::move(self));
          }
        }
        state = State::kReading;
        return s.readSocket(self, available);
      }
      if (!initiating) return self.complete(result, plaintext);
      state = State::kPosted;
      s.post(self);
    }
  };

  template <class Buffers>
  struct WriteOp {
    TlsStream& s;
    Buffers buffers;
    State state = State::kStart;
    boost::system::error_code result{};
    size_t plaintext = 0;

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}, size_t = 0) {
      if (state == State::kPosted) return self.complete(result, plaintext);
      if (state == State::kWriting) {
        s.engine_->outputSent();
        return self.complete(ec, ec ? size_t{0} : plaintext);
      }
      std::array<boost::asio::const_buffer, detail::kMaxBuffersPerOperation> b;
      size_t count = detail::collectBuffers(buffers, b);
      plaintext = s.engine_->write(b.data(), count, result);
      if (result || !s.engine_->hasOutput()) {
        if (result) plaintext = 0;
        state = State::kPosted;
        return s.post(self);
      }
      state = State::kWriting;
      s.writeSocket(self);
    }
  };

  /// Handshake or shutdown: run the engine, send what it produced, read when it wants input.
  struct ControlOp {
    TlsStream& s;
    bool shutdown;
    State state = State::kStart;
    Step step = Step::kDone;
    boost::system::error_code result{};

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}, size_t bytes = 0) {
      if (state == State::kPosted) return self.complete(result);
      bool initiating = state == State::kStart;
      if (state == State::kWriting) {
        s.engine_->outputSent();
        if (ec) return self.complete(ec);
        return afterOutput(self, false);
      }
      if (state == State::kReading) {
        if (ec) {
          // A peer that closes after our close_notify ends a shutdown as Asio's would (eof).
          if (ec == boost::asio::error::eof && !shutdown) ec = s.engine_->eofError();
          return self.complete(ec);
        }
        s.engine_->commitInput(bytes);
      }
      step = shutdown ? s.engine_->shutdown(result) : s.engine_->handshake(result);
      if (s.engine_->hasOutput()) {
        // Sent even when the engine failed: it is the alert that tells the peer why.
        state = State::kWriting;
        return s.writeSocket(self);
      }
      afterOutput(self, initiating);
    }

    template <class Self>
    void afterOutput(Self& self, bool initiating) {
      if (step == Step::kNeedInput) {
        state = State::kReading;
        return s.readSocket(self);
      }
      if (!initiating) return self.complete(result);
      state = State::kPosted;
      s.post(self);
    }
  };

  boost::beast::tcp_stream stream_;
  std::unique_ptr<detail::TlsEngine> engine_;
  bool wait_unbuffered_ = false;
};

namespace detail {

struct TlsTeardownOp {
  TlsStream& s;
  boost::beast::role_type role;
  int state = 0;
  boost::system::error_code first{};

  template <class Self>
  void operator()(Self& self, boost::system::error_code ec = {}) {
    if (state == 0) {
      state = 1;
      return s.async_shutdown(std::move(self));
    }
    if (state == 1) {
      state = 2;
      first = ec;
      using boost::beast::websocket::async_teardown;
      return async_teardown(role, s.next_layer(), std::move(self));
    }
    self.complete(first ? first : ec);
  }
};

}  // namespace detail

/// WebSocket teardown (beast finds these by ADL): close_notify both ways, then the TCP teardown.
void teardown(boost::beast::role_type role, TlsStream& stream, boost::system::error_code& ec);

template <class TeardownHandler>
void async_teardown(boost::beast::role_type role, TlsStream& stream, TeardownHandler&& handler) {
  boost::asio::async_compose<TeardownHandler, void(boost::system::error_code)>(
      detail::TlsTeardownOp{stream, role}, handler, stream);
}

}  // namespace kubehub::net
