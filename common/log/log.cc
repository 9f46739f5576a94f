#include "common/log/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>

namespace kubehub::log {
namespace {

std::shared_ptr<spdlog::logger>& logger() {
  static std::shared_ptr<spdlog::logger> instance = [] {
    auto l = spdlog::stderr_logger_mt("kubehub");
    l->set_pattern("ts=%Y-%m-%dT%H:%M:%S.%eZ level=%l component=unset %v",
                   spdlog::pattern_time_type::utc);
    return l;
  }();
  return instance;
}

bool needsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      return true;
    }
  }
  return false;
}

void appendValue(std::string& out, std::string_view v) {
  if (!needsQuotes(v)) {
    out.append(v);
    return;
  }
  out.push_back('"');
  for (char c : v) {
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out.append("?");
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

spdlog::level::level_enum toSpd(Level level) {
  switch (level) {
    case Level::kDebug:
      return spdlog::level::debug;
    case Level::kInfo:
      return spdlog::level::info;
    case Level::kWarn:
      return spdlog::level::warn;
    case Level::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

void init(std::string_view component, Level level) {
  auto& l = logger();
  std::string pattern = "ts=%Y-%m-%dT%H:%M:%S.%eZ level=%l component=";
  pattern.append(component);
  pattern.append(" %v");
  l->set_pattern(pattern, spdlog::pattern_time_type::utc);
  l->set_level(toSpd(level));
  l->flush_on(spdlog::level::debug);
}

bool parseLevel(std::string_view text, Level* out) {
  if (text == "debug")
    *out = Level::kDebug;
  else if (text == "info")
    *out = Level::kInfo;
  else if (text == "warn" || text == "warning")
    *out = Level::kWarn;
  else if (text == "error")
    *out = Level::kError;
  else
    return false;
  return true;
}

std::string format(std::string_view msg, std::initializer_list<Field> fields) {
  std::string line = "msg=";
  appendValue(line, msg);
  for (const Field& f : fields) {
    line.push_back(' ');
    line.append(f.key);
    line.push_back('=');
    appendValue(line, f.value);
  }
  return line;
}

void write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  auto& l = logger();
  auto spd = toSpd(level);
  if (!l->should_log(spd)) return;
  l->log(spd, "{}", format(msg, fields));
}

}  // namespace kubehub::log
