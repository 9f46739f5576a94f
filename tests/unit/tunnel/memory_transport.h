#pragma once
/// An in-memory Transport pair for multiplexer tests: what one end writes, the other reads, in
/// order. Closing either end fails pending and later reads on both. Single io_context.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <utility>

#include "common/tunnel/transport.h"

namespace kubehub::tunnel {

class MemoryTransport final : public Transport {
 public:
  using Channel = boost::asio::experimental::channel<void(boost::system::error_code, std::string)>;

  /// `capacity`: messages in flight per direction before a writer blocks (a slow reader).
  static std::pair<std::unique_ptr<MemoryTransport>, std::unique_ptr<MemoryTransport>> pair(
      boost::asio::any_io_executor ex, size_t capacity = 4096) {
    auto a_to_b = std::make_shared<Channel>(ex, capacity);
    auto b_to_a = std::make_shared<Channel>(ex, capacity);
    return {std::unique_ptr<MemoryTransport>(new MemoryTransport(ex, b_to_a, a_to_b, "a")),
            std::unique_ptr<MemoryTransport>(new MemoryTransport(ex, a_to_b, b_to_a, "b"))};
  }

  boost::asio::any_io_executor executor() override { return ex_; }

  boost::asio::awaitable<boost::system::error_code> read() override {
    auto [ec, msg] = co_await in_->async_receive(boost::asio::as_tuple(boost::asio::use_awaitable));
    if (ec) co_return boost::asio::error::eof;
    if (msg.size() > max_message_) co_return boost::asio::error::message_size;
    message_ = std::move(msg);
    co_return boost::system::error_code{};
  }
  std::string_view message() const override { return message_; }

  boost::asio::awaitable<boost::system::error_code> write(std::string_view message) override {
    if (!out_->is_open()) co_return boost::asio::error::broken_pipe;
    auto [ec] = co_await out_->async_send(boost::system::error_code{}, std::string(message),
                                          boost::asio::as_tuple(boost::asio::use_awaitable));
    if (ec) co_return boost::asio::error::broken_pipe;
    co_return boost::system::error_code{};
  }

  boost::asio::awaitable<boost::system::error_code> writeBatch(
      const std::vector<std::string>& parts) override {
    std::string joined;
    for (const auto& p : parts) joined += p;
    co_return co_await write(joined);
  }

  void setReadDeadline(std::chrono::milliseconds) override {}
  void setIdleTimeout(std::chrono::milliseconds) override {}
  void setMaxMessage(size_t bytes) override { max_message_ = bytes; }
  boost::asio::awaitable<void> close(std::string_view) override {
    abort();
    co_return;
  }
  void abort() override {
    // cancel() wakes a writer blocked on a full channel; close() refuses later operations.
    in_->cancel();
    out_->cancel();
    in_->close();
    out_->close();
  }
  const std::string& peerAddress() const override { return name_; }

 private:
  MemoryTransport(boost::asio::any_io_executor ex, std::shared_ptr<Channel> in,
                  std::shared_ptr<Channel> out, std::string name)
      : ex_(std::move(ex)), in_(std::move(in)), out_(std::move(out)), name_(std::move(name)) {}

  boost::asio::any_io_executor ex_;
  std::shared_ptr<Channel> in_;
  std::shared_ptr<Channel> out_;
  std::string name_;
  std::string message_;
  size_t max_message_ = 1 << 20;
};

}  // namespace kubehub::tunnel
