// Fuzzes the stand-in's parsers of untrusted input: label and field selectors, continue tokens,
// protobuf request bodies, proxy paths, the exec resize channel and a terminal's keystrokes. No
// crash; a selector that parses matches without failing; a resize stream fed in two pieces
// decodes to what it decodes to in one.
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "tests/standin/continue_token.h"
#include "tests/standin/exec_command.h"
#include "tests/standin/field_selector.h"
#include "tests/standin/label_selector.h"
#include "tests/standin/protobuf_decoder.h"
#include "tests/standin/proxy_path.h"
#include "tests/standin/terminal.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kubehub::standin;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  static const Json kLabels = {{"app", "web"}, {"size", "5"}, {"example.com/x", ""}};
  static const Json kObject = {{"metadata", {{"name", "n"}, {"namespace", "d"}}}};
  if (auto s = LabelSelector::parse(in); s.ok()) {
    (void)s->matches(&kLabels);
    (void)s->matches(nullptr);
  }
  if (auto f = FieldSelector::parse(in); f.ok()) (void)f->matches(kObject);
  if (auto t = ContinueToken::decode(in); t.ok()) {
    if (ContinueToken::decode(t->encode())->after_key != t->after_key) std::abort();
  }
  (void)decodeKubernetesProtobuf(in);
  if (auto p = parseProxyTarget(in); p.ok() && p->name.empty()) std::abort();
  (void)proxyBackendPath(in);
  ResizeDecoder whole;
  ResizeDecoder split;
  std::vector<TerminalSize> sizes = whole.feed(in);
  std::vector<TerminalSize> pieces = split.feed(in.substr(0, size / 2));
  for (const TerminalSize& t : split.feed(in.substr(size / 2))) pieces.push_back(t);
  if (sizes != pieces || whole.failed() != split.failed()) std::abort();
  ExecRequest shell;
  shell.command = {"sh"};
  shell.use_stdin = true;
  shell.tty = (size % 2) == 0;
  ExecCommand cmd(shell);
  cmd.start();
  cmd.onResize(in);
  cmd.onStdin(in);
  cmd.onStdinClosed();
  return 0;
}
