#include "common/net/server_main.h"

#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "common/log/log.h"

namespace kubehub::net {

void exitWithConfigError(std::string_view program, const absl::Status& status) {
  std::fprintf(stderr, "%.*s: error: %.*s\n", static_cast<int>(program.size()), program.data(),
               static_cast<int>(status.message().size()), status.message().data());
  std::exit(2);
}

void runIoContext(boost::asio::io_context& io, int threads, std::function<void()> on_signal) {
  auto signals = std::make_shared<boost::asio::signal_set>(io, SIGINT, SIGTERM);
  auto count = std::make_shared<int>(0);
  auto handler_ptr = std::make_shared<std::function<void(const boost::system::error_code&, int)>>();
  *handler_ptr = [&io, signals, count, on_signal, handler_ptr](const boost::system::error_code& ec,
                                                               int signo) {
    if (ec) return;
    if ((*count)++ == 0) {
      log::info("shutting down", {{"signal", signo}});
      if (on_signal) on_signal();
      signals->async_wait(*handler_ptr);
    } else {
      log::warn("second signal, stopping now");
      io.stop();
    }
  };
  signals->async_wait(*handler_ptr);
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();
  // Break the handler's self-reference.
  handler_ptr->operator=(nullptr);
}

}  // namespace kubehub::net
