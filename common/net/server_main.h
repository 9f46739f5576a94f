#pragma once
/// Start-up helpers shared by every binary's main.cc: one-line fatal errors, the io_context
/// thread pool, and SIGINT/SIGTERM handling.

#include <boost/asio/io_context.hpp>
#include <functional>
#include <string>

#include "absl/status/status.h"

namespace kubehub::net {

/// Prints "PROGRAM: error: MESSAGE" to stderr and exits with code 2 (bad configuration).
[[noreturn]] void exitWithConfigError(std::string_view program, const absl::Status& status);

/// Runs `io` on `threads` threads until it stops. On the first SIGINT/SIGTERM calls
/// `on_signal` (which should begin a graceful shutdown and eventually stop `io`); a second
/// signal stops `io` at once.
void runIoContext(boost::asio::io_context& io, int threads, std::function<void()> on_signal);

}  // namespace kubehub::net
