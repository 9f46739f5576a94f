#include "agent/commands/command_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

#include "common/auth/secret_name.h"

namespace kubehub::agent {

namespace {

using Json = nlohmann::json;

constexpr int64_t kMaxTimeoutSeconds = 24 * 3600;
constexpr int64_t kMaxKillGraceSeconds = 60;
constexpr uint64_t kMaxOutputLimit = uint64_t{1} << 32;
constexpr size_t kMaxValueBytes = 4096;

absl::Status invalid(const std::string& where, const std::string& what) {
  return absl::InvalidArgumentError(where + ": " + what);
}

/// libstdc++'s regex parser reads the numbers of `{n,m}` and of backreferences (`\12`) into an
/// int without a bound: a long one is a signed overflow, undefined behaviour
/// (commands_config_fuzz). Numbers of more than six digits are refused before it sees them; any
/// above the library's 100,000-state limit is refused by the library itself.
absl::Status regexNumbersBounded(std::string_view pattern) {
  constexpr size_t kMaxDigits = 6;
  auto digitsAt = [&](size_t i) {
    size_t n = 0;
    while (i + n < pattern.size() && pattern[i + n] >= '0' && pattern[i + n] <= '9') ++n;
    return n;
  };
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\') {
      size_t n = digitsAt(i + 1);
      if (n > kMaxDigits) return absl::InvalidArgumentError("a backreference number is too long");
      i += n > 0 ? n : 1;  // the escaped character is never a quantifier's brace
    } else if (pattern[i] == '{') {
      size_t n = digitsAt(i + 1);
      size_t m = i + 1 + n < pattern.size() && pattern[i + 1 + n] == ',' ? digitsAt(i + 2 + n) : 0;
      if (n > kMaxDigits || m > kMaxDigits) {
        return absl::InvalidArgumentError("a repetition count has more than six digits");
      }
    }
  }
  return absl::OkStatus();
}

bool isCommandName(std::string_view s) {
  if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool isParameterName(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!(std::isalpha(static_cast<unsigned char>(s.front())) || s.front() == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

bool isEnvName(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s.front()))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

/// A scalar's text, or an error naming the field.
absl::StatusOr<std::string> scalar(const YAML::Node& n, const std::string& where) {
  if (!n.IsScalar()) return invalid(where, "must be a single value");
  return n.Scalar();
}

absl::StatusOr<int64_t> integer(const YAML::Node& n, const std::string& where) {
  auto text = scalar(n, where);
  if (!text.ok()) return text.status();
  try {
    size_t used = 0;
    long long v = std::stoll(*text, &used, 10);
    if (used != text->size()) return invalid(where, "must be an integer");
    return static_cast<int64_t>(v);
  } catch (const std::exception&) {
    return invalid(where, "must be an integer");
  }
}

absl::StatusOr<bool> boolean(const YAML::Node& n, const std::string& where) {
  auto text = scalar(n, where);
  if (!text.ok()) return text.status();
  if (*text == "true") return true;
  if (*text == "false") return false;
  return invalid(where, "must be true or false");
}

absl::StatusOr<std::vector<std::string>> strings(const YAML::Node& n, const std::string& where) {
  if (!n.IsSequence()) return invalid(where, "must be a list");
  std::vector<std::string> out;
  for (size_t i = 0; i < n.size(); ++i) {
    auto s = scalar(n[i], where + "[" + std::to_string(i) + "]");
    if (!s.ok()) return s.status();
    out.push_back(std::move(*s));
  }
  return out;
}

/// Unknown keys are errors: a typo ("timout") must not silently leave a default in force.
absl::Status onlyKeys(const YAML::Node& n, const std::string& where,
                      std::initializer_list<std::string_view> keys) {
  if (!n.IsMap()) return invalid(where, "must be a mapping");
  for (const auto& kv : n) {
    std::string k = kv.first.as<std::string>();
    if (std::find(keys.begin(), keys.end(), k) == keys.end())
      return invalid(where, "unknown field \"" + k + "\"");
  }
  return absl::OkStatus();
}

/// "{name}" pieces; "{{" and "}}" are literal braces.
absl::StatusOr<std::vector<ArgPiece>> parseTemplate(const std::string& arg,
                                                    const std::string& where) {
  std::vector<ArgPiece> pieces;
  std::string literal;
  for (size_t i = 0; i < arg.size(); ++i) {
    char c = arg[i];
    if (c == '{' && i + 1 < arg.size() && arg[i + 1] == '{') {
      literal += '{';
      ++i;
    } else if (c == '}' && i + 1 < arg.size() && arg[i + 1] == '}') {
      literal += '}';
      ++i;
    } else if (c == '{') {
      size_t close = arg.find('}', i);
      if (close == std::string::npos) return invalid(where, "unclosed '{' in \"" + arg + "\"");
      if (!literal.empty()) pieces.push_back({false, std::move(literal)});
      literal.clear();
      pieces.push_back({true, arg.substr(i + 1, close - i - 1)});
      i = close;
    } else if (c == '}') {
      return invalid(where, "unmatched '}' in \"" + arg + "\" (write }} for a brace)");
    } else {
      literal += c;
    }
  }
  if (!literal.empty() || pieces.empty()) pieces.push_back({false, std::move(literal)});
  return pieces;
}

absl::StatusOr<CommandParameter> parseParameter(const YAML::Node& n, const std::string& where) {
  if (auto st = onlyKeys(n, where,
                         {"name", "type", "description", "required", "secret", "pattern", "allowed",
                          "min", "max", "default"});
      !st.ok())
    return st;
  CommandParameter p;
  if (!n["name"]) return invalid(where, "name is required");
  auto name = scalar(n["name"], where + ".name");
  if (!name.ok()) return name.status();
  p.name = *name;
  if (!isParameterName(p.name))
    return invalid(where + ".name", "\"" + p.name + "\" is not a valid parameter name");
  std::string at = where + " (" + p.name + ")";
  std::string type = "string";
  if (n["type"]) {
    auto t = scalar(n["type"], at + ".type");
    if (!t.ok()) return t.status();
    type = *t;
  }
  if (type == "string") {
    p.type = CommandParameter::Type::kString;
  } else if (type == "integer") {
    p.type = CommandParameter::Type::kInteger;
  } else if (type == "boolean") {
    p.type = CommandParameter::Type::kBoolean;
  } else {
    return invalid(at + ".type", "\"" + type + "\" is not string, integer or boolean");
  }
  if (n["description"]) {
    auto d = scalar(n["description"], at + ".description");
    if (!d.ok()) return d.status();
    p.description = *d;
  }
  if (n["required"]) {
    auto r = boolean(n["required"], at + ".required");
    if (!r.ok()) return r.status();
    p.required = *r;
  }
  if (n["secret"]) {
    auto s = boolean(n["secret"], at + ".secret");
    if (!s.ok()) return s.status();
    p.secret = *s;
  }
  bool is_string = p.type == CommandParameter::Type::kString;
  bool is_integer = p.type == CommandParameter::Type::kInteger;
  if (n["pattern"]) {
    if (!is_string) return invalid(at + ".pattern", "only string parameters have a pattern");
    auto s = scalar(n["pattern"], at + ".pattern");
    if (!s.ok()) return s.status();
    p.pattern = *s;
    if (absl::Status bounded = regexNumbersBounded(p.pattern); !bounded.ok()) {
      return invalid(at + ".pattern",
                     "not a valid regular expression: " + std::string(bounded.message()));
    }
    try {
      p.pattern_re = std::make_shared<const std::regex>(p.pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return invalid(at + ".pattern", "not a valid regular expression: " + std::string(e.what()));
    }
  }
  if (n["allowed"]) {
    if (!is_string) return invalid(at + ".allowed", "only string parameters have allowed values");
    auto list = strings(n["allowed"], at + ".allowed");
    if (!list.ok()) return list.status();
    if (list->empty()) return invalid(at + ".allowed", "must not be empty");
    p.allowed = std::move(*list);
  }
  for (const char* bound : {"min", "max"}) {
    if (!n[bound]) continue;
    if (!is_integer) return invalid(at + "." + bound, "only integer parameters have bounds");
    auto v = integer(n[bound], at + "." + bound);
    if (!v.ok()) return v.status();
    (std::string_view(bound) == "min" ? p.min : p.max) = *v;
  }
  if (p.min > p.max) return invalid(at, "min is greater than max");
  if (n["default"]) {
    if (p.required) return invalid(at + ".default", "a required parameter has no default");
    auto d = scalar(n["default"], at + ".default");
    if (!d.ok()) return d.status();
    p.default_value = *d;
  }
  return p;
}

absl::StatusOr<std::string> checkValue(const CommandParameter& p, const Json& value);

absl::StatusOr<Command> parseCommand(const YAML::Node& n, size_t index) {
  std::string where = "commands[" + std::to_string(index) + "]";
  if (!n.IsMap()) return invalid(where, "must be a mapping");
  if (!n["name"]) return invalid(where, "name is required");
  auto name = scalar(n["name"], where + ".name");
  if (!name.ok()) return name.status();
  Command c;
  c.name = *name;
  if (!isCommandName(c.name)) {
    return invalid(where + ".name", "\"" + c.name +
                                        "\" must be lower-case letters, digits and '-' (at most "
                                        "63, not starting or ending with '-')");
  }
  where = "command \"" + c.name + "\"";
  if (auto st =
          onlyKeys(n, where,
                   {"name", "description", "executable", "args", "parameters", "timeoutSeconds",
                    "killGraceSeconds", "maxOutputBytes", "workingDir", "env"});
      !st.ok())
    return st;
  if (n["description"]) {
    auto d = scalar(n["description"], where + ".description");
    if (!d.ok()) return d.status();
    c.description = *d;
  }
  if (!n["executable"]) return invalid(where, "executable is required");
  auto exe = scalar(n["executable"], where + ".executable");
  if (!exe.ok()) return exe.status();
  c.executable = *exe;
  if (c.executable.empty() || c.executable.front() != '/')
    return invalid(where + ".executable", "must be an absolute path");
  if (n["parameters"]) {
    const YAML::Node& ps = n["parameters"];
    if (!ps.IsSequence()) return invalid(where + ".parameters", "must be a list");
    for (size_t i = 0; i < ps.size(); ++i) {
      auto p = parseParameter(ps[i], where + ".parameters[" + std::to_string(i) + "]");
      if (!p.ok()) return p.status();
      if (c.parameter(p->name))
        return invalid(where + ".parameters", "\"" + p->name + "\" is declared twice");
      c.parameters.push_back(std::move(*p));
    }
  }
  if (n["args"]) {
    auto args = strings(n["args"], where + ".args");
    if (!args.ok()) return args.status();
    std::set<std::string> used;
    for (size_t i = 0; i < args->size(); ++i) {
      std::string at = where + ".args[" + std::to_string(i) + "]";
      auto pieces = parseTemplate((*args)[i], at);
      if (!pieces.ok()) return pieces.status();
      for (const auto& piece : *pieces) {
        if (piece.parameter && !c.parameter(piece.text))
          return invalid(at, "{" + piece.text + "} names no declared parameter");
        if (piece.parameter) used.insert(piece.text);
      }
      c.args.push_back(std::move(*pieces));
    }
    c.args_text = std::move(*args);
    for (const auto& p : c.parameters) {
      if (!used.contains(p.name))
        return invalid(where + ".parameters", "\"" + p.name + "\" is used by no argument");
    }
  } else if (!c.parameters.empty()) {
    return invalid(where + ".args", "the parameters are used by no argument");
  }
  if (n["timeoutSeconds"]) {
    auto t = integer(n["timeoutSeconds"], where + ".timeoutSeconds");
    if (!t.ok()) return t.status();
    if (*t < 1 || *t > kMaxTimeoutSeconds)
      return invalid(where + ".timeoutSeconds", "must be between 1 and 86400");
    c.timeout = std::chrono::seconds(*t);
  }
  if (n["killGraceSeconds"]) {
    auto g = integer(n["killGraceSeconds"], where + ".killGraceSeconds");
    if (!g.ok()) return g.status();
    if (*g < 0 || *g > kMaxKillGraceSeconds)
      return invalid(where + ".killGraceSeconds", "must be between 0 and 60");
    c.kill_grace = std::chrono::seconds(*g);
  }
  if (n["maxOutputBytes"]) {
    auto m = integer(n["maxOutputBytes"], where + ".maxOutputBytes");
    if (!m.ok()) return m.status();
    if (*m < 1 || static_cast<uint64_t>(*m) > kMaxOutputLimit)
      return invalid(where + ".maxOutputBytes", "must be between 1 and 4294967296");
    c.max_output_bytes = static_cast<uint64_t>(*m);
  }
  if (n["workingDir"]) {
    auto w = scalar(n["workingDir"], where + ".workingDir");
    if (!w.ok()) return w.status();
    if (w->empty() || w->front() != '/')
      return invalid(where + ".workingDir", "must be an absolute path");
    c.working_dir = *w;
  }
  if (n["env"]) {
    const YAML::Node& env = n["env"];
    if (auto st = onlyKeys(env, where + ".env", {"pass", "set"}); !st.ok()) return st;
    if (env["pass"]) {
      auto pass = strings(env["pass"], where + ".env.pass");
      if (!pass.ok()) return pass.status();
      for (const auto& name : *pass) {
        if (!isEnvName(name))
          return invalid(where + ".env.pass", "\"" + name + "\" is not an environment name");
      }
      c.env_pass = std::move(*pass);
    }
    if (env["set"]) {
      const YAML::Node& set = env["set"];
      if (!set.IsMap()) return invalid(where + ".env.set", "must be a mapping");
      for (const auto& kv : set) {
        std::string k = kv.first.as<std::string>();
        if (!isEnvName(k))
          return invalid(where + ".env.set", "\"" + k + "\" is not an environment name");
        auto v = scalar(kv.second, where + ".env.set." + k);
        if (!v.ok()) return v.status();
        c.env_set.emplace_back(k, *v);
      }
    }
  }
  // A default must pass the checks a given value passes.
  for (const auto& p : c.parameters) {
    if (!p.default_value) continue;
    Json probe = Json::object();
    switch (p.type) {
      case CommandParameter::Type::kString:
        probe[p.name] = *p.default_value;
        break;
      case CommandParameter::Type::kInteger:
        try {
          probe[p.name] = std::stoll(*p.default_value);
        } catch (const std::exception&) {
          return invalid(where + ".parameters",
                         "the default of \"" + p.name + "\" is not an integer");
        }
        break;
      case CommandParameter::Type::kBoolean:
        if (*p.default_value != "true" && *p.default_value != "false")
          return invalid(where + ".parameters",
                         "the default of \"" + p.name + "\" is not true or false");
        probe[p.name] = *p.default_value == "true";
        break;
    }
    auto checked = checkValue(p, probe[p.name]);
    if (!checked.ok())
      return invalid(where + ".parameters", "default: " + std::string(checked.status().message()));
  }
  return c;
}

std::string_view typeName(CommandParameter::Type t) {
  switch (t) {
    case CommandParameter::Type::kString:
      return "string";
    case CommandParameter::Type::kInteger:
      return "integer";
    case CommandParameter::Type::kBoolean:
      return "boolean";
  }
  return "string";
}

absl::Status badParameter(const std::string& name, const std::string& what) {
  return absl::InvalidArgumentError("parameter \"" + name + "\" " + what);
}

/// A given value, checked against its parameter, as argv text.
absl::StatusOr<std::string> checkValue(const CommandParameter& p, const Json& value) {
  const std::string& name = p.name;
  switch (p.type) {
    case CommandParameter::Type::kString: {
      if (!value.is_string()) return badParameter(name, "must be a string");
      std::string s = value.get<std::string>();
      if (s.size() > kMaxValueBytes) return badParameter(name, "is longer than 4096 bytes");
      if (s.find('\0') != std::string::npos)
        return badParameter(name, "must not contain a NUL character");
      if (p.pattern_re && !std::regex_match(s, *p.pattern_re))
        return badParameter(name, "must match " + p.pattern);
      if (!p.allowed.empty() &&
          std::find(p.allowed.begin(), p.allowed.end(), s) == p.allowed.end()) {
        std::string list;
        for (const auto& a : p.allowed) list += (list.empty() ? "" : ", ") + a;
        return badParameter(name, "must be one of: " + list);
      }
      return s;
    }
    case CommandParameter::Type::kInteger: {
      if (!value.is_number_integer()) return badParameter(name, "must be an integer");
      if (value.is_number_unsigned() && value.get<uint64_t>() > uint64_t{INT64_MAX})
        return badParameter(name, "is out of range");
      int64_t v = value.get<int64_t>();
      if (v < p.min || v > p.max) {
        return badParameter(
            name, "must be between " + std::to_string(p.min) + " and " + std::to_string(p.max));
      }
      return std::to_string(v);
    }
    case CommandParameter::Type::kBoolean:
      if (!value.is_boolean()) return badParameter(name, "must be true or false");
      return std::string(value.get<bool>() ? "true" : "false");
  }
  return badParameter(name, "has an unknown type");
}

}  // namespace

const CommandParameter* Command::parameter(std::string_view name) const {
  for (const auto& p : parameters) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

absl::StatusOr<std::shared_ptr<const CommandSet>> CommandSet::parse(std::string_view text) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError("not valid YAML or JSON: " + std::string(e.what()));
  }
  auto set = std::shared_ptr<CommandSet>(new CommandSet());
  try {
    if (auto st = onlyKeys(root, "the commands file", {"commands"}); !st.ok()) return st;
    const YAML::Node& list = root["commands"];
    if (!list || !list.IsSequence())
      return absl::InvalidArgumentError("the commands file needs a list named \"commands\"");
    for (size_t i = 0; i < list.size(); ++i) {
      auto c = parseCommand(list[i], i);
      if (!c.ok()) return c.status();
      if (set->find(c->name)) return invalid("command \"" + c->name + "\"", "is declared twice");
      set->commands_.push_back(std::move(*c));
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError("the commands file: " + std::string(e.what()));
  }
  return std::shared_ptr<const CommandSet>(std::move(set));
}

absl::StatusOr<std::shared_ptr<const CommandSet>> CommandSet::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError("cannot read the commands file " + path);
  std::stringstream text;
  text << in.rdbuf();
  auto set = parse(text.str());
  if (!set.ok()) {
    return absl::InvalidArgumentError(path + ": " + std::string(set.status().message()));
  }
  return set;
}

const Command* CommandSet::find(std::string_view name) const {
  for (const auto& c : commands_) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

Json CommandSet::listing() const {
  Json items = Json::array();
  for (const auto& c : commands_) {
    Json params = Json::array();
    for (const auto& p : c.parameters) {
      Json j = {{"name", p.name}, {"type", typeName(p.type)}, {"required", p.required}};
      if (!p.description.empty()) j["description"] = p.description;
      if (p.secret || auth::looksSecret(p.name)) j["secret"] = true;
      if (!p.pattern.empty()) j["pattern"] = p.pattern;
      if (!p.allowed.empty()) j["allowed"] = p.allowed;
      if (p.min != INT64_MIN) j["min"] = p.min;
      if (p.max != INT64_MAX) j["max"] = p.max;
      if (p.default_value) j["default"] = *p.default_value;
      params.push_back(std::move(j));
    }
    items.push_back({{"name", c.name},
                     {"description", c.description},
                     {"parameters", std::move(params)},
                     {"timeoutSeconds", c.timeout.count() / 1000},
                     {"killGraceSeconds", c.kill_grace.count() / 1000},
                     {"maxOutputBytes", c.max_output_bytes}});
  }
  return Json{{"kind", "CommandList"}, {"apiVersion", "kubehub.io/v1"}, {"items", items}};
}

absl::StatusOr<CommandCall> buildCall(const Command& command, std::string_view body,
                                      const std::vector<std::string>& environ) {
  Json given = Json::object();
  if (!body.empty() && body.find_first_not_of(" \t\r\n") != std::string_view::npos) {
    given = Json::parse(body, nullptr, false);
    if (given.is_discarded() || !given.is_object())
      return absl::InvalidArgumentError("the parameters must be a JSON object");
  }
  std::map<std::string, std::string> values;
  for (const auto& [name, value] : given.items()) {
    const CommandParameter* p = command.parameter(name);
    if (!p) {
      return absl::InvalidArgumentError("command \"" + command.name + "\" has no parameter \"" +
                                        name + "\"");
    }
    auto checked = checkValue(*p, value);
    if (!checked.ok()) return checked.status();
    values[name] = std::move(*checked);
  }
  for (const auto& p : command.parameters) {
    if (values.contains(p.name)) continue;
    if (p.required) return badParameter(p.name, "is required");
    if (p.default_value) values[p.name] = *p.default_value;
  }
  CommandCall call;
  call.argv.push_back(command.executable);
  for (const auto& pieces : command.args) {
    std::string arg;
    bool dropped = false;
    for (const auto& piece : pieces) {
      if (!piece.parameter) {
        arg += piece.text;
        continue;
      }
      auto v = values.find(piece.text);
      if (v == values.end()) {
        dropped = true;
        break;
      }
      arg += v->second;
    }
    if (!dropped) call.argv.push_back(std::move(arg));
  }
  for (const auto& name : command.env_pass) {
    bool fixed = std::any_of(command.env_set.begin(), command.env_set.end(),
                             [&](const auto& kv) { return kv.first == name; });
    if (fixed) continue;
    for (const auto& entry : environ) {
      if (entry.size() > name.size() && entry.compare(0, name.size(), name) == 0 &&
          entry[name.size()] == '=') {
        call.env.push_back(entry);
        break;
      }
    }
  }
  for (const auto& [k, v] : command.env_set) call.env.push_back(k + "=" + v);
  call.working_dir = command.working_dir;
  call.timeout = command.timeout;
  call.kill_grace = command.kill_grace;
  call.max_output_bytes = command.max_output_bytes;
  return call;
}

}  // namespace kubehub::agent
