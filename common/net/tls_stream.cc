#include "common/net/tls_stream.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <cstring>
#include <system_error>

namespace kubehub::net {

namespace asio = boost::asio;
using boost::system::error_code;

namespace detail {
namespace {

/// One TLS record's plaintext: smaller pieces are gathered up to this before SSL_write, so a
/// WebSocket frame header does not become a record of its own.
constexpr size_t kRecordBytes = 16 * 1024;

/// SSL_get_error needs the thread's error queue empty before each call. ERR_clear_error walks
/// all its slots every time (3% of a stream's CPU in perf); peeking first costs a lookup.
void clearErrorQueue() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}
/// Room for a record's header, padding and tag (TLS 1.2 GCM: 29 bytes, TLS 1.3: 22).
constexpr size_t kRecordOverhead = 64;

TlsEngine* engineOf(BIO* bio) { return static_cast<TlsEngine*>(BIO_get_data(bio)); }

int bioWriteEx(BIO* bio, const char* data, size_t size, size_t* written) {
  BIO_clear_retry_flags(bio);
  engineOf(bio)->bioWrite(data, size);
  *written = size;
  return 1;
}

int bioReadEx(BIO* bio, char* data, size_t size, size_t* read) {
  BIO_clear_retry_flags(bio);
  int ok = engineOf(bio)->bioRead(data, size, read);
  if (!ok) BIO_set_retry_read(bio);
  return ok;
}

long bioCtrl(BIO*, int cmd, long, void*) {
  // OpenSSL flushes after each handshake flight; output leaves with the next socket write.
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

int bioCreate(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

int bioDestroy(BIO*) { return 1; }

/// Created once, never freed (OpenSSL holds on to it for the process's life too).
BIO_METHOD* bioMethod() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "kubehub tls");
    if (m == nullptr || !BIO_meth_set_write_ex(m, bioWriteEx) ||
        !BIO_meth_set_read_ex(m, bioReadEx) || !BIO_meth_set_ctrl(m, bioCtrl) ||
        !BIO_meth_set_create(m, bioCreate) || !BIO_meth_set_destroy(m, bioDestroy)) {
      throw std::system_error(std::make_error_code(std::errc::not_enough_memory), "BIO_meth_new");
    }
    return m;
  }();
  return method;
}

}  // namespace

TlsEngine::TlsEngine(SSL_CTX* context) : ssl_(SSL_new(context)) {
  if (ssl_ == nullptr) {
    throw boost::system::system_error(
        error_code(static_cast<int>(ERR_get_error()), asio::error::get_ssl_category()), "SSL_new");
  }
  SSL_set_mode(ssl_, SSL_MODE_RELEASE_BUFFERS);
  BIO* bio = BIO_new(bioMethod());
  if (bio == nullptr) {
    SSL_free(ssl_);
    throw boost::system::system_error(
        error_code(static_cast<int>(ERR_get_error()), asio::error::get_ssl_category()), "BIO_new");
  }
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_, bio, bio);  // one reference, owned by the SSL object
}

TlsEngine::~TlsEngine() { SSL_free(ssl_); }

void TlsEngine::setRole(asio::ssl::stream_base::handshake_type type) {
  if (type == asio::ssl::stream_base::client) {
    SSL_set_connect_state(ssl_);
  } else {
    SSL_set_accept_state(ssl_);
  }
}

error_code TlsEngine::lastError(int ssl_error) const {
  if (ssl_error == SSL_ERROR_ZERO_RETURN) return asio::error::eof;
  unsigned long e = ERR_get_error();
  if (e != 0) return error_code(static_cast<int>(e), asio::error::get_ssl_category());
  return asio::ssl::error::unspecified_system_error;
}

TlsEngine::Step TlsEngine::handshake(error_code& ec) {
  clearErrorQueue();
  int r = SSL_do_handshake(ssl_);
  if (r == 1) return Step::kDone;
  int err = SSL_get_error(ssl_, r);
  if (err == SSL_ERROR_WANT_READ) return Step::kNeedInput;
  ec = lastError(err);
  return Step::kFailed;
}

TlsEngine::Step TlsEngine::read(const asio::mutable_buffer* buffers, size_t count, size_t& bytes,
                                error_code& ec) {
  bytes = 0;
  for (size_t i = 0; i < count; ++i) {
    char* data = static_cast<char*>(buffers[i].data());
    size_t size = buffers[i].size();
    while (size > 0) {
      clearErrorQueue();
      size_t got = 0;
      int r = SSL_read_ex(ssl_, data, size, &got);
      if (r == 1) {
        data += got;
        size -= got;
        bytes += got;
        continue;
      }
      int err = SSL_get_error(ssl_, r);
      // What was read goes to the caller now; the condition shows again on the next call (a
      // failed or closed SSL object keeps failing).
      if (bytes > 0) return Step::kDone;
      if (err == SSL_ERROR_WANT_READ) return Step::kNeedInput;
      ec = lastError(err);
      return Step::kFailed;
    }
  }
  return Step::kDone;
}

size_t TlsEngine::write(const asio::const_buffer* buffers, size_t count, error_code& ec) {
  size_t total = 0;
  for (size_t i = 0; i < count; ++i) total += buffers[i].size();
  total = std::min(total, TlsStream::kMaxWriteBytes);
  pending_.reserve(pending_.size() + total + (total / kRecordBytes + count + 1) * kRecordOverhead);

  char stage[kRecordBytes];
  size_t staged = 0;
  size_t written = 0;
  auto sslWrite = [&](const char* data, size_t size) {
    clearErrorQueue();
    size_t done = 0;
    if (SSL_write_ex(ssl_, data, size, &done) != 1) {
      ec = lastError(SSL_get_error(ssl_, 0));
      return false;
    }
    written += done;
    return true;
  };
  size_t left = total;
  for (size_t i = 0; i < count && left > 0; ++i) {
    const char* data = static_cast<const char*>(buffers[i].data());
    size_t size = std::min(buffers[i].size(), left);
    left -= size;
    while (size > 0) {
      if (staged == 0 && size >= kRecordBytes) {
        size_t whole = size - size % kRecordBytes;  // full records straight from the caller
        if (!sslWrite(data, whole)) return written;
        data += whole;
        size -= whole;
        continue;
      }
      size_t take = std::min(size, kRecordBytes - staged);
      std::memcpy(stage + staged, data, take);
      staged += take;
      data += take;
      size -= take;
      if (staged == kRecordBytes) {
        if (!sslWrite(stage, staged)) return written;
        staged = 0;
      }
    }
  }
  if (staged > 0 && !sslWrite(stage, staged)) return written;
  return written;
}

TlsEngine::Step TlsEngine::shutdown(error_code& ec) {
  if ((SSL_get_shutdown(ssl_) & SSL_SENT_SHUTDOWN) == 0) {
    clearErrorQueue();
    int r = SSL_shutdown(ssl_);
    if (r == 1) return Step::kDone;
    if (r < 0) {
      int err = SSL_get_error(ssl_, r);
      if (err != SSL_ERROR_WANT_READ) {
        ec = lastError(err);
        return Step::kFailed;
      }
    }
  }
  if ((SSL_get_shutdown(ssl_) & SSL_RECEIVED_SHUTDOWN) != 0) return Step::kDone;
  // Until the peer's close_notify: what it still sends is discarded.
  char scratch[1024];
  for (;;) {
    clearErrorQueue();
    size_t got = 0;
    int r = SSL_read_ex(ssl_, scratch, sizeof scratch, &got);
    if (r == 1) continue;
    int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_READ) return Step::kNeedInput;
    if (err == SSL_ERROR_ZERO_RETURN) return Step::kDone;
    ec = lastError(err);
    return Step::kFailed;
  }
}

asio::mutable_buffer TlsEngine::prepareInput(size_t available) {
  if (in_begin_ != in_end_ && in_begin_ > 0) {
    // Not expected (the engine asks for input once it took everything), kept correct anyway.
    std::memmove(in_.get(), in_.get() + in_begin_, in_end_ - in_begin_);
  }
  in_end_ -= in_begin_;
  in_begin_ = 0;
  size_t want =
      std::clamp(in_end_ + available, TlsStream::kIdleReadBytes, TlsStream::kMaxReadBytes);
  // Grow for a burst; back to the small buffer when nothing is waiting (the connection idles).
  bool idle = available == 0 && in_end_ == 0 && in_capacity_ > TlsStream::kIdleReadBytes;
  if (want > in_capacity_ || idle) {
    auto bigger = std::make_unique_for_overwrite<char[]>(want);
    if (in_end_ > 0) std::memcpy(bigger.get(), in_.get(), in_end_);
    in_ = std::move(bigger);
    in_capacity_ = want;
  }
  return asio::mutable_buffer(in_.get() + in_end_, in_capacity_ - in_end_);
}

void TlsEngine::commitInput(size_t bytes) { in_end_ += bytes; }

void TlsEngine::releaseInput() {
  if (in_begin_ != in_end_) return;
  in_.reset();
  in_capacity_ = in_begin_ = in_end_ = 0;
}

size_t TlsEngine::bufferedInput() const {
  return static_cast<size_t>(std::max(SSL_pending(ssl_), 0)) + (in_end_ - in_begin_);
}

int TlsEngine::bioRead(char* data, size_t size, size_t* read) {
  size_t have = in_end_ - in_begin_;
  if (have == 0) {
    *read = 0;
    return 0;
  }
  size_t n = std::min(size, have);
  std::memcpy(data, in_.get() + in_begin_, n);
  in_begin_ += n;
  if (in_begin_ == in_end_) in_begin_ = in_end_ = 0;
  *read = n;
  return 1;
}

void TlsEngine::bioWrite(const char* data, size_t size) { pending_.append(data, size); }

asio::const_buffer TlsEngine::takeOutput() {
  sending_.swap(pending_);
  return asio::buffer(sending_);
}

void TlsEngine::outputSent() { std::string().swap(sending_); }

error_code TlsEngine::eofError() const {
  if ((SSL_get_shutdown(ssl_) & SSL_RECEIVED_SHUTDOWN) != 0) return asio::error::eof;
  return asio::ssl::error::stream_truncated;
}

size_t TlsEngine::heldBytes() const {
  // An empty std::string's inline capacity is no allocation.
  auto heap = [](const std::string& s) {
    return s.capacity() > std::string().capacity() ? s.capacity() : 0;
  };
  return in_capacity_ + heap(pending_) + heap(sending_);
}

}  // namespace detail

TlsStream::TlsStream(boost::beast::tcp_stream stream, asio::ssl::context& context)
    : stream_(std::move(stream)),
      engine_(std::make_unique<detail::TlsEngine>(context.native_handle())) {}

TlsStream::TlsStream(const executor_type& executor, asio::ssl::context& context)
    : stream_(executor), engine_(std::make_unique<detail::TlsEngine>(context.native_handle())) {}

namespace {

/// `from`'s socket, registered with `executor`'s reactor instead of its own.
boost::beast::tcp_stream rehomed(boost::beast::tcp_stream& from,
                                 const TlsStream::executor_type& executor) {
  boost::beast::tcp_stream to(executor);
  auto& socket = from.socket();
  if (!socket.is_open()) return to;
  error_code ec;
  auto protocol = socket.local_endpoint(ec).protocol();
  if (ec) {
    socket.close(ec);
    return to;
  }
  auto native = socket.release(ec);
  if (ec) {
    socket.close(ec);
    return to;
  }
  to.socket().assign(protocol, native, ec);
  if (ec) ::close(native);  // left closed: the next operation fails as on a closed connection
  return to;
}

}  // namespace

TlsStream::TlsStream(TlsStream&&) noexcept = default;

TlsStream::TlsStream(TlsStream&& other, const executor_type& executor)
    : stream_(rehomed(other.stream_, executor)),
      engine_(std::move(other.engine_)),
      wait_unbuffered_(other.wait_unbuffered_) {}
TlsStream::~TlsStream() = default;

bool TlsStream::setServerName(const std::string& host) {
  return SSL_set_tlsext_host_name(engine_->ssl(), host.c_str()) == 1;
}

bool TlsStream::verifyHostName(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  if (!ec) {
    return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(engine_->ssl()), host.c_str()) == 1;
  }
  return SSL_set1_host(engine_->ssl(), host.c_str()) == 1;
}

void TlsStream::sendCloseNotify(error_code& ec) {
  error_code ignored;
  engine_->shutdown(ignored);
  if (!engine_->hasOutput()) return;
  asio::write(stream_.socket(), engine_->takeOutput(), ec);
  engine_->outputSent();
}

void teardown(boost::beast::role_type role, TlsStream& stream, error_code& ec) {
  stream.sendCloseNotify(ec);
  error_code tcp_ec;
  using boost::beast::websocket::teardown;
  teardown(role, stream.next_layer(), tcp_ec);
  if (!ec) ec = tcp_ec;
}

}  // namespace kubehub::net
