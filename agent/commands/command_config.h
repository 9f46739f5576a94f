#pragma once
/// The agent's native commands: the set of programs the edge team lets users run through the
/// hub, read from the agent's own --commands-file (the hub can never add one). Parsing and
/// validation of that file, of a call's parameters, and the argv a call runs with. Pure; the
/// loaded set is immutable and safe to share across threads.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kubehub::agent {

struct CommandParameter {
  enum class Type { kString, kInteger, kBoolean };
  std::string name;
  Type type = Type::kString;
  std::string description;
  bool required = false;
  /// Redacted in the hub's audit log (names that look secret are redacted regardless).
  bool secret = false;
  /// kString: the value must match all of it (ECMAScript), when set.
  std::string pattern;
  std::shared_ptr<const std::regex> pattern_re;
  /// kString: the value must be one of these, when not empty.
  std::vector<std::string> allowed;
  /// kInteger: inclusive bounds.
  int64_t min = INT64_MIN;
  int64_t max = INT64_MAX;
  /// Used when the call does not give the parameter (any type, rendered as text).
  std::optional<std::string> default_value;
};

/// One piece of an argument template: literal text or a parameter's value.
struct ArgPiece {
  bool parameter = false;
  std::string text;  // the literal, or the parameter's name
};

struct Command {
  std::string name;
  std::string description;
  std::string executable;
  /// Each element becomes exactly one argv element (never split, never given to a shell). An
  /// element naming a parameter that the call leaves out (with no default) is dropped.
  std::vector<std::vector<ArgPiece>> args;
  std::vector<std::string> args_text;  // as written, for the listing
  std::vector<CommandParameter> parameters;
  std::chrono::milliseconds timeout{60000};
  /// On timeout the process group gets SIGTERM, and SIGKILL this long after unless it ended.
  std::chrono::milliseconds kill_grace{2000};
  uint64_t max_output_bytes = 1 << 20;
  std::string working_dir = "/";
  /// Names passed through from the agent's environment when set there.
  std::vector<std::string> env_pass;
  /// Fixed values (win over passed-through ones).
  std::vector<std::pair<std::string, std::string>> env_set;

  const CommandParameter* parameter(std::string_view name) const;
};

class CommandSet {
 public:
  /// The file's text (YAML, so JSON too). InvalidArgument naming the command and field.
  static absl::StatusOr<std::shared_ptr<const CommandSet>> parse(std::string_view text);
  /// Reads and parses `path`.
  static absl::StatusOr<std::shared_ptr<const CommandSet>> load(const std::string& path);

  const Command* find(std::string_view name) const;
  const std::vector<Command>& commands() const { return commands_; }
  /// What `GET /kubehub/v1/commands` answers: names, descriptions, parameters (never the
  /// executable's environment).
  nlohmann::json listing() const;

 private:
  std::vector<Command> commands_;
};

/// A call, checked: what runs and how.
struct CommandCall {
  std::vector<std::string> argv;  // argv[0] is the executable
  std::vector<std::string> env;   // NAME=value
  std::string working_dir;
  std::chrono::milliseconds timeout{0};
  /// 0: SIGKILL at the timeout, without a SIGTERM first.
  std::chrono::milliseconds kill_grace{0};
  uint64_t max_output_bytes = 0;
};

/// Checks a call's parameters (a JSON object's text; empty means none) against the command and
/// builds its argv. InvalidArgument naming the parameter. `environ` is the agent's environment
/// (NAME=value entries), of which only the command's allowlist passes.
absl::StatusOr<CommandCall> buildCall(const Command& command, std::string_view body,
                                      const std::vector<std::string>& environ);

}  // namespace kubehub::agent
