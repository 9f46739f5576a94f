// Fuzzes the agent's commands file (YAML or JSON) and a call's parameters against what it
// declares. No crash, no exception; a file that parses lists every command it declares, and a
// call that passes builds an argv that starts with the command's executable.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "agent/commands/command_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kubehub::agent;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // The first line, when the input has several, is a call's parameters for every command.
  size_t nl = in.find('\n');
  std::string_view body = nl == std::string_view::npos ? std::string_view() : in.substr(0, nl);
  auto set = CommandSet::parse(in);
  if (!set.ok()) return 0;
  auto listing = (*set)->listing();
  if (listing["items"].size() != (*set)->commands().size()) std::abort();
  for (const auto& command : (*set)->commands()) {
    for (std::string_view params : {body, std::string_view("{}")}) {
      auto call = buildCall(command, params, {"PATH=/bin", "HOME=/"});
      if (call.ok() && (call->argv.empty() || call->argv[0] != command.executable)) std::abort();
    }
  }
  return 0;
}
