#pragma once
/// key=value structured logging over spdlog. Thread-safe. Never pass secrets as fields.

#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

#include "absl/strings/string_view.h"

namespace kubehub::log {

enum class Level { kDebug, kInfo, kWarn, kError };

/// One key=value pair of a log line. Values are quoted when they contain spaces or quotes.
struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v ? v : "") {}
  Field(std::string_view k, absl::string_view v) : key(k), value(v.data(), v.size()) {}
  template <typename Int>
  requires std::is_arithmetic_v<Int> Field(std::string_view k, Int v)
      : key(k), value(std::to_string(v)) {}
  std::string_view key;
  std::string value;
};

/// Sets the component name written on every line and the minimum level. Call once at start.
void init(std::string_view component, Level level);
/// Parses "debug", "info", "warn", "error".
bool parseLevel(std::string_view text, Level* out);

void write(Level level, std::string_view msg, std::initializer_list<Field> fields);

inline void debug(std::string_view msg, std::initializer_list<Field> fields = {}) {
  write(Level::kDebug, msg, fields);
}
inline void info(std::string_view msg, std::initializer_list<Field> fields = {}) {
  write(Level::kInfo, msg, fields);
}
inline void warn(std::string_view msg, std::initializer_list<Field> fields = {}) {
  write(Level::kWarn, msg, fields);
}
inline void error(std::string_view msg, std::initializer_list<Field> fields = {}) {
  write(Level::kError, msg, fields);
}

/// Formats msg and fields the way a line's payload is written (exposed for tests).
std::string format(std::string_view msg, std::initializer_list<Field> fields);

}  // namespace kubehub::log
