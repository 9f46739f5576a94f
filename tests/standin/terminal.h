#pragma once
/// What the container's pseudo-terminal does for `kubectl exec -t` / `attach -t`, emulated: the
/// resize stream kubectl writes (its terminal's size first, then again on every SIGWINCH), and
/// the line discipline between the user's keystrokes and the process (echo, CR read as NL,
/// NL written as CR NL, erase, ^C, ^D). Pure.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kubehub::standin {

/// A terminal's size in character cells (what `stty size` prints as "ROWS COLS").
struct TerminalSize {
  int width = 0;
  int height = 0;
  bool operator==(const TerminalSize&) const = default;
};

/// Decodes the resize stream (channel 4 over WebSocket, the "resize" SPDY stream): JSON objects
/// `{"Width":W,"Height":H}` back to back, one per line as Go's json.Encoder writes them, split
/// across messages anyhow. Like the kubelet's json.Decoder loop it matches field names without
/// regard to case, ignores unknown fields, and stops for good at the first value that is not such
/// an object (later bytes are ignored).
class ResizeDecoder {
 public:
  /// Appends bytes; returns the sizes they complete, in order (zero sizes included: the caller
  /// ignores them as the kubelet does).
  std::vector<TerminalSize> feed(std::string_view bytes);
  bool failed() const { return failed_; }

  /// A value longer than this is taken as malformed (the kubelet has no such bound; a real
  /// size takes some 30 bytes).
  static constexpr size_t kMaxValue = 4096;

 private:
  std::string pending_;
  bool failed_ = false;
};

/// The canonical-mode line discipline of a Linux pty with its defaults (ICRNL, ECHO, ECHOE,
/// ONLCR, ^C interrupts, ^D ends input at the start of a line).
class LineDiscipline {
 public:
  struct Event {
    enum Kind { kLine, kInterrupt, kEndOfInput };
    Kind kind = kLine;
    /// kLine: the line without its newline.
    std::string line;
  };
  struct Result {
    /// What the terminal writes back at once (the process's output comes after it).
    std::string echo;
    std::vector<Event> events;
  };

  /// The user's keystrokes as kubectl sends them from a raw-mode terminal.
  Result input(std::string_view keys);
  /// The process's output as the user's terminal receives it: "\n" becomes "\r\n".
  static std::string output(std::string_view text);

 private:
  std::string line_;
};

}  // namespace kubehub::standin
