#include "hub/cache/json_stream.h"

namespace kubehub::hub::cache {

absl::Status JsonStreamSplitter::feed(std::string_view bytes, std::vector<std::string>* out) {
  buffer_.append(bytes);
  size_t start = 0;
  // Skip whitespace between values.
  auto skipSpace = [&](size_t from) {
    while (from < buffer_.size() && (buffer_[from] == ' ' || buffer_[from] == '\n' ||
                                     buffer_[from] == '\r' || buffer_[from] == '\t')) {
      ++from;
    }
    return from;
  };
  if (depth_ == 0 && !in_string_) {
    start = skipSpace(0);
    scanned_ = std::max(scanned_, start);
  }
  for (size_t i = scanned_; i < buffer_.size(); ++i) {
    char c = buffer_[i];
    if (in_string_) {
      if (escaped_) {
        escaped_ = false;
      } else if (c == '\\') {
        escaped_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
      continue;
    }
    if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      ++depth_;
    } else if (c == '}' || c == ']') {
      if (--depth_ < 0) return absl::InvalidArgumentError("unbalanced JSON in stream");
      if (depth_ == 0) {
        out->emplace_back(buffer_.substr(start, i + 1 - start));
        start = skipSpace(i + 1);
        i = start - 1;
      }
    } else if (depth_ == 0 && c != ' ' && c != '\n' && c != '\r' && c != '\t') {
      return absl::InvalidArgumentError("the stream holds something other than JSON objects");
    }
  }
  buffer_.erase(0, start);
  scanned_ = buffer_.size();
  if (buffer_.size() > max_value_) {
    return absl::ResourceExhaustedError("a JSON value in the stream exceeds " +
                                        std::to_string(max_value_) + " bytes");
  }
  return absl::OkStatus();
}

}  // namespace kubehub::hub::cache
