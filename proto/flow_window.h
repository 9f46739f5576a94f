#pragma once
/// Credit-based flow-control accounting for one direction of a stream or of a whole tunnel
/// (see PROTOCOL.md, "Flow control"). Pure; callers hold whatever lock guards the owner.

#include <cstdint>

namespace kubehub::proto {

/// The sender's side: how many DATA payload bytes may still be sent.
class SendWindow {
 public:
  explicit SendWindow(uint32_t initial) : credit_(initial) {}
  int64_t available() const { return credit_; }
  void consume(uint32_t n) { credit_ -= n; }
  /// False when the increment would overflow the window (a protocol error by the peer).
  bool grant(uint32_t increment) {
    if (credit_ + static_cast<int64_t>(increment) > (int64_t{1} << 31)) return false;
    credit_ += increment;
    return true;
  }

 private:
  int64_t credit_;
};

/// The receiver's side: checks that the peer stays within the window, and decides when to give
/// credit back (once at least half of the window has been consumed, so WINDOW frames stay rare).
///
/// The window grows, up to `max_window`, for a stream whose reader keeps up: when credit is given
/// back while at most a quarter of the window is still buffered, the window (not the reader) is
/// what limits the stream, and the increment carries the consumed bytes plus as many again
/// (doubling the window). A reader that stalls gives no credit back and a slow one leaves more
/// buffered, so neither grows: memory goes only to streams that move it on at once.
class RecvWindow {
 public:
  explicit RecvWindow(uint32_t window, uint32_t max_window = 0)
      : window_(window), max_window_(max_window > window ? max_window : window) {}
  /// False when the peer sent more than its credit (a flow-control violation).
  bool receive(uint32_t n) {
    if (outstanding_ + n > window_) return false;
    outstanding_ += n;
    return true;
  }
  /// Records that n bytes left the receive buffer; returns the increment to send now, or 0.
  uint32_t consume(uint32_t n) {
    consumed_ += n;
    if (consumed_ >= window_ / 2) {
      uint32_t inc = consumed_;
      outstanding_ -= consumed_;
      consumed_ = 0;
      if (window_ < max_window_ && outstanding_ <= window_ / 4) {
        uint32_t extra = window_ < max_window_ - window_ ? window_ : max_window_ - window_;
        window_ += extra;
        inc += extra;
      }
      return inc;
    }
    return 0;
  }
  uint32_t buffered() const { return outstanding_ - consumed_; }
  uint32_t window() const { return window_; }

 private:
  uint32_t window_;
  uint32_t max_window_;
  uint32_t outstanding_ = 0;  // received and not yet credited back
  uint32_t consumed_ = 0;     // consumed, not yet credited back
};

}  // namespace kubehub::proto
