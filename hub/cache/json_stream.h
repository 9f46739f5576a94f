#pragma once
/// Splits a byte stream of concatenated JSON values (a Kubernetes watch body) into whole
/// values, whatever the chunking. Tracks strings and escapes so braces inside strings do not
/// count. Bounded: a value larger than `max_value` is an error. Pure.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace kubehub::hub::cache {

class JsonStreamSplitter {
 public:
  explicit JsonStreamSplitter(size_t max_value = 64 << 20) : max_value_(max_value) {}

  /// Appends bytes; complete values are moved into `out`.
  absl::Status feed(std::string_view bytes, std::vector<std::string>* out);
  /// Bytes buffered of an incomplete value.
  size_t pending() const { return buffer_.size(); }

 private:
  std::string buffer_;
  size_t scanned_ = 0;
  int depth_ = 0;
  bool in_string_ = false;
  bool escaped_ = false;
  const size_t max_value_;
};

}  // namespace kubehub::hub::cache
