#include "common/config/flags.h"

#include <cstdlib>
#include <optional>

#include "absl/strings/numbers.h"

namespace kubehub::config {

absl::Status parseDuration(std::string_view text, std::chrono::milliseconds* out) {
  std::string_view num = text;
  int64_t scale = 1000;
  if (text.ends_with("ms")) {
    num = text.substr(0, text.size() - 2);
    scale = 1;
  } else if (text.ends_with("s")) {
    num = text.substr(0, text.size() - 1);
  } else if (text.ends_with("m")) {
    num = text.substr(0, text.size() - 1);
    scale = 60'000;
  } else if (text.ends_with("h")) {
    num = text.substr(0, text.size() - 1);
    scale = 3'600'000;
  }
  double value = 0;
  if (num.empty() || !absl::SimpleAtod(absl::string_view(num.data(), num.size()), &value) ||
      value < 0 || value > 1e9) {
    return absl::InvalidArgumentError("invalid duration \"" + std::string(text) +
                                      "\" (use e.g. 500ms, 30s, 5m, 1h)");
  }
  *out = std::chrono::milliseconds(static_cast<int64_t>(value * static_cast<double>(scale)));
  return absl::OkStatus();
}

FlagSet::FlagSet(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {}

std::string FlagSet::envName(const std::string& flag) {
  std::string env = "KUBEHUB_";
  for (char c : flag) {
    env.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return env;
}

void FlagSet::addString(std::string name, std::string* target, std::string help) {
  flags_.push_back(Flag{name, std::move(help), *target, false, [target](std::string_view v) {
                          *target = std::string(v);
                          return absl::OkStatus();
                        }});
}

void FlagSet::addInt(std::string name, int64_t* target, std::string help) {
  flags_.push_back(
      Flag{name, std::move(help), std::to_string(*target), false, [target](std::string_view v) {
             int64_t parsed = 0;
             if (!absl::SimpleAtoi(absl::string_view(v.data(), v.size()), &parsed)) {
               return absl::InvalidArgumentError("not an integer");
             }
             *target = parsed;
             return absl::OkStatus();
           }});
}

void FlagSet::addBool(std::string name, bool* target, std::string help) {
  flags_.push_back(
      Flag{name, std::move(help), *target ? "true" : "false", true, [target](std::string_view v) {
             if (v == "true" || v == "1" || v == "yes") {
               *target = true;
             } else if (v == "false" || v == "0" || v == "no") {
               *target = false;
             } else {
               return absl::InvalidArgumentError("not a boolean (true/false)");
             }
             return absl::OkStatus();
           }});
}

void FlagSet::addDuration(std::string name, std::chrono::milliseconds* target, std::string help) {
  std::string def = std::to_string(target->count()) + "ms";
  if (target->count() % 1000 == 0) def = std::to_string(target->count() / 1000) + "s";
  flags_.push_back(Flag{name, std::move(help), def, false,
                        [target](std::string_view v) { return parseDuration(v, target); }});
}

void FlagSet::addStringList(std::string name, std::vector<std::string>* target, std::string help) {
  std::string def;
  for (const auto& item : *target) def += (def.empty() ? "" : ",") + item;
  Flag flag{name, std::move(help), def, false, [target](std::string_view v) {
              while (!v.empty()) {
                size_t comma = v.find(',');
                std::string_view item = v.substr(0, comma);
                while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
                while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
                if (!item.empty()) target->emplace_back(item);
                if (comma == std::string_view::npos) break;
                v.remove_prefix(comma + 1);
              }
              return absl::OkStatus();
            }};
  flag.clear = [target] { target->clear(); };
  flags_.push_back(std::move(flag));
}

FlagSet::Flag* FlagSet::find(std::string_view name) {
  for (Flag& f : flags_) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

absl::Status FlagSet::setFlag(Flag& flag, std::string_view value, std::string_view source) {
  flag.given = true;
  absl::Status s = flag.set(value);
  if (!s.ok()) {
    return absl::InvalidArgumentError(std::string(source) + ": " + std::string(s.message()));
  }
  return absl::OkStatus();
}

absl::Status FlagSet::parse(int argc, char** argv) {
  for (Flag& f : flags_) {
    std::string env = envName(f.name);
    if (const char* v = std::getenv(env.c_str()); v != nullptr) {
      if (f.clear) f.clear();
      absl::Status s = setFlag(f, v, "environment variable " + env);
      if (!s.ok()) return s;
    }
  }
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      return absl::OkStatus();
    }
    if (arg == "--") {
      for (++i; i < argc; ++i) args_.emplace_back(argv[i]);
      break;
    }
    if (!arg.starts_with("--")) {
      args_.emplace_back(arg);
      continue;
    }
    std::string_view body = arg.substr(2);
    std::string_view name = body;
    std::optional<std::string_view> value;
    if (auto eq = body.find('='); eq != std::string_view::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
    }
    Flag* flag = find(name);
    if (flag == nullptr) {
      return absl::InvalidArgumentError("unknown flag --" + std::string(name) + " (see " +
                                        program_ + " --help)");
    }
    if (!value.has_value()) {
      if (flag->is_bool) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        return absl::InvalidArgumentError("flag --" + flag->name + " needs a value");
      }
    }
    if (flag->clear && !flag->set_on_command_line) flag->clear();
    flag->set_on_command_line = true;
    absl::Status s = setFlag(*flag, *value, "flag --" + flag->name);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

bool FlagSet::given(std::string_view name) const {
  for (const Flag& f : flags_) {
    if (f.name == name) return f.given;
  }
  return false;
}

std::string FlagSet::usage() const {
  std::string out = "Usage: " + program_ + " [flags]\n\n" + summary_ + "\n\nFlags:\n";
  for (const Flag& f : flags_) {
    std::string value = f.is_bool ? "" : (f.clear ? " VALUE[,VALUE...] (repeatable)" : " VALUE");
    out += "  --" + f.name + value + "\n      " + f.help + " (env " + envName(f.name) +
           (f.default_text.empty() ? "" : ", default " + f.default_text) + ")\n";
  }
  out += "  --help\n      Show this help.\n";
  return out;
}

}  // namespace kubehub::config
