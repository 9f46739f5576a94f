#pragma once
/// What code that answers users needs from their connection, without Beast: ordered writes
/// with a deadline, and noticing the client leave. user_server.cc implements it over TLS.
/// Used from the connection's strand only.

#include <boost/asio/awaitable.hpp>
#include <string_view>

namespace kubehub::hub {

class ClientConnection {
 public:
  virtual ~ClientConnection() = default;
  /// Writes the concatenation of the parts; false when the client is gone or too slow.
  virtual boost::asio::awaitable<bool> write(std::string_view a, std::string_view b = {},
                                             std::string_view c = {}) = 0;
  /// Returns when the client closes the connection (used during long-lived responses).
  virtual boost::asio::awaitable<void> waitClosed() = 0;
  /// Closes the connection (after a long-lived response).
  virtual void close() = 0;
};

}  // namespace kubehub::hub
