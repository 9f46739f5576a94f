#pragma once
/// A small command-line flag parser: `--name=value` or `--name value`, each flag also read from
/// a `KUBEHUB_NAME` environment variable (flag wins). Unknown flags and bad values are errors.
/// Not thread-safe; use at start-up only.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace kubehub::config {

/// Parses "250ms", "30s", "5m", "1h" (or a bare number of seconds).
absl::Status parseDuration(std::string_view text, std::chrono::milliseconds* out);

class FlagSet {
 public:
  FlagSet(std::string program, std::string summary);

  void addString(std::string name, std::string* target, std::string help);
  void addInt(std::string name, int64_t* target, std::string help);
  void addBool(std::string name, bool* target, std::string help);
  void addDuration(std::string name, std::chrono::milliseconds* target, std::string help);
  /// A list: each occurrence adds its comma-separated items (empty items are dropped). The
  /// environment variable holds a comma-separated list; the command line replaces it, and
  /// either replaces the target's initial contents.
  void addStringList(std::string name, std::vector<std::string>* target, std::string help);

  /// Reads the environment, then argv. `--help`/`-h` sets helpRequested() and stops.
  absl::Status parse(int argc, char** argv);
  bool helpRequested() const { return help_requested_; }
  std::string usage() const;
  /// Positional arguments left after the flags.
  const std::vector<std::string>& args() const { return args_; }
  /// Whether parse() set the flag from the command line or the environment, even to an empty
  /// value: `--user ""` is given, a flag left out is not.
  bool given(std::string_view name) const;

  /// The environment variable a flag is read from: "tunnel-listen" → "KUBEHUB_TUNNEL_LISTEN".
  static std::string envName(const std::string& flag);

 private:
  struct Flag {
    Flag(std::string name_in, std::string help_in, std::string default_in, bool is_bool_in,
         std::function<absl::Status(std::string_view)> set_in)
        : name(std::move(name_in)),
          help(std::move(help_in)),
          default_text(std::move(default_in)),
          is_bool(is_bool_in),
          set(std::move(set_in)) {}
    std::string name;
    std::string help;
    std::string default_text;
    bool is_bool = false;
    std::function<absl::Status(std::string_view)> set;
    /// Lists only: empties the target before the first value from a source.
    std::function<void()> clear;
    bool set_on_command_line = false;
    bool given = false;
  };
  absl::Status setFlag(Flag& flag, std::string_view value, std::string_view source);
  Flag* find(std::string_view name);

  std::string program_;
  std::string summary_;
  std::vector<Flag> flags_;
  std::vector<std::string> args_;
  bool help_requested_ = false;
};

}  // namespace kubehub::config
