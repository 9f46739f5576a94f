#pragma once
/// The edge API server stand-in on its own thread, on port 0, for in-process integration
/// tests: seeded as kubectl's tests expect, serving TLS with the test PKI's "standin"
/// certificate. Stopped and joined when destroyed. One per test; not thread-safe.

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "common/net/address.h"
#include "tests/integration/test_pki.h"
#include "tests/standin/api_server.h"
#include "tests/standin/server.h"

namespace kubehub {

class StandinThread {
 public:
  StandinThread() = default;
  StandinThread(const StandinThread&) = delete;
  StandinThread& operator=(const StandinThread&) = delete;
  ~StandinThread() {
    if (stop_) stop_();
    if (thread_.joinable()) thread_.join();
  }

  /// Starts it with `token` as the edge's bearer token; `pki` must have issued "standin". Fails
  /// the test (and returns false) when it is not listening within 20 s.
  bool start(const TestPki& pki, const std::string& token) {
    standin::StandinConfig cfg;
    cfg.token = token;
    api_ = std::make_unique<standin::ApiServer>(cfg);
    api_->seed(true, 0);
    // Shared with the callback: it may still run after a start that gave up waiting.
    auto bound = std::make_shared<std::promise<net::HostPort>>();
    auto bound_future = bound->get_future();
    standin::ServerOptions so;
    so.tls_cert = pki.path("standin.crt");
    so.tls_key = pki.path("standin.key");
    so.threads = 1;
    so.handle_signals = false;
    so.on_ready = [this, bound](const net::HostPort& hp, std::function<void()> stop) {
      stop_ = std::move(stop);
      bound->set_value(hp);
    };
    thread_ = std::thread([this, so] { EXPECT_TRUE(standin::runServer(*api_, so).ok()); });
    if (bound_future.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
      ADD_FAILURE() << "the stand-in did not start listening";
      return false;
    }
    address_ = bound_future.get();
    return true;
  }

  const net::HostPort& address() const { return address_; }
  standin::ApiServer& api() { return *api_; }

 private:
  std::unique_ptr<standin::ApiServer> api_;
  std::function<void()> stop_;
  std::thread thread_;
  net::HostPort address_;
};

}  // namespace kubehub
