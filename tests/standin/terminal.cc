#include "tests/standin/terminal.h"

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"

namespace kubehub::standin {
namespace {

constexpr char kInterrupt = 0x03;     // ^C (VINTR)
constexpr char kEndOfFile = 0x04;     // ^D (VEOF)
constexpr char kBackspace = 0x08;     // ^H
constexpr char kKillLine = 0x15;      // ^U (VKILL)
constexpr char kDelete = 0x7f;        // what terminals send for Backspace (VERASE)
constexpr int kMaxDimension = 65535;  // the kubelet decodes into uint16

bool isJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/// The length of the JSON object at the start of `s` (which begins with '{'), or 0 when it is
/// not complete yet.
size_t objectLength(std::string_view s) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
  }
  return 0;
}

/// Reads one size like Go's encoding/json into struct{Width, Height uint16}; false when the
/// kubelet's decoder would fail.
bool decodeSize(std::string_view text, TerminalSize* out) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return false;
  TerminalSize size;
  for (const auto& [key, value] : j.items()) {
    std::string name = absl::AsciiStrToLower(key);
    int* field = name == "width" ? &size.width : name == "height" ? &size.height : nullptr;
    if (field == nullptr || value.is_null()) continue;
    if (!value.is_number_integer()) return false;
    int64_t v = value.get<int64_t>();
    if (v < 0 || v > kMaxDimension) return false;
    *field = static_cast<int>(v);
  }
  *out = size;
  return true;
}

}  // namespace

std::vector<TerminalSize> ResizeDecoder::feed(std::string_view bytes) {
  std::vector<TerminalSize> sizes;
  if (failed_) return sizes;
  pending_.append(bytes);
  size_t at = 0;
  while (true) {
    while (at < pending_.size() && isJsonSpace(pending_[at])) ++at;
    if (at == pending_.size()) break;
    if (pending_[at] != '{') {
      failed_ = true;
      break;
    }
    size_t len = objectLength(std::string_view(pending_).substr(at));
    if (len > kMaxValue || (len == 0 && pending_.size() - at > kMaxValue)) {
      failed_ = true;
      break;
    }
    if (len == 0) break;
    TerminalSize size;
    if (!decodeSize(std::string_view(pending_).substr(at, len), &size)) {
      failed_ = true;
      break;
    }
    sizes.push_back(size);
    at += len;
  }
  if (failed_) {
    pending_.clear();
  } else {
    pending_.erase(0, at);
  }
  return sizes;
}

LineDiscipline::Result LineDiscipline::input(std::string_view keys) {
  Result r;
  for (char c : keys) {
    if (c == '\r') c = '\n';  // ICRNL: the Enter key sends CR
    switch (c) {
      case '\n':
        r.echo += "\r\n";
        r.events.push_back(Event{Event::kLine, std::move(line_)});
        line_.clear();
        break;
      case kInterrupt:
        r.echo += "^C";
        line_.clear();
        r.events.push_back(Event{Event::kInterrupt, {}});
        break;
      case kEndOfFile:
        // At the start of a line the reader sees end of input; elsewhere the line is handed
        // over unfinished, which an emulated shell has no use for.
        if (line_.empty()) r.events.push_back(Event{Event::kEndOfInput, {}});
        break;
      case kDelete:
      case kBackspace:
        if (!line_.empty()) {
          line_.pop_back();
          r.echo += "\b \b";
        }
        break;
      case kKillLine:
        for (size_t i = 0; i < line_.size(); ++i) r.echo += "\b \b";
        line_.clear();
        break;
      default:
        line_.push_back(c);
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t') {
          r.echo += '^';  // ECHOCTL
          r.echo += static_cast<char>(c + 0x40);
        } else {
          r.echo += c;
        }
    }
  }
  return r;
}

std::string LineDiscipline::output(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (char c : text) {
    if (c == '\n') out.push_back('\r');
    out.push_back(c);
  }
  return out;
}

}  // namespace kubehub::standin
