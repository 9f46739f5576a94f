#pragma once
/// A message transport under the tunnel multiplexer: one WebSocket (over mTLS) carrying binary
/// messages, each one protocol frame. Beast-free interface; the implementation lives in
/// ws_transport.cc. All calls must be made on executor() (the tunnel's strand), with at most
/// one read and one write outstanding.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace kubehub::tunnel {

class Transport {
 public:
  virtual ~Transport() = default;
  virtual boost::asio::any_io_executor executor() = 0;
  /// Reads one message; `message()` is valid until the next read.
  virtual boost::asio::awaitable<boost::system::error_code> read() = 0;
  virtual std::string_view message() const = 0;
  virtual boost::asio::awaitable<boost::system::error_code> write(std::string_view message) = 0;
  /// Writes the concatenation of `parts` as one message (several frames, one syscall).
  virtual boost::asio::awaitable<boost::system::error_code> writeBatch(
      const std::vector<std::string>& parts) = 0;
  /// Bounds the next read (used during the handshake); zero disables the bound.
  virtual void setReadDeadline(std::chrono::milliseconds timeout) = 0;
  /// From now on, the connection closes when nothing at all arrives for `timeout`.
  virtual void setIdleTimeout(std::chrono::milliseconds timeout) = 0;
  /// Caps the size of an incoming message; larger ones fail the read.
  virtual void setMaxMessage(size_t bytes) = 0;
  /// Sends a WebSocket close (bounded in time); the transport is unusable afterwards.
  virtual boost::asio::awaitable<void> close(std::string_view reason) = 0;
  /// Tears the connection down at once; pending operations complete with an error.
  virtual void abort() = 0;
  virtual const std::string& peerAddress() const = 0;
};

}  // namespace kubehub::tunnel
