// Fuzzes the stand-in's parsers of untrusted input: label and field selectors, continue tokens,
// protobuf request bodies, proxy paths, tar archives (read in two pieces, and extracted by
// `tar xf -` into a small container file system), the exec resize channel, a terminal's
// keystrokes and the messages and `ports` query of WebSocket port-forward. No crash; a selector
// that parses matches without failing; a member never gets more data than it declared; a command
// that reads to the end of its stdin always ends; the file system stays within its budget; a resize
// stream fed in two pieces decodes to what it decodes to in one.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>
#include <vector>

#include "common/k8s/field_selector.h"
#include "common/k8s/label_selector.h"
#include "tests/standin/continue_token.h"
#include "tests/standin/exec_command.h"
#include "tests/standin/field_labels.h"
#include "tests/standin/pod_files.h"
#include "tests/standin/port_forward.h"
#include "tests/standin/protobuf_decoder.h"
#include "tests/standin/proxy_path.h"
#include "tests/standin/tar_archive.h"
#include "tests/standin/terminal.h"

namespace {

using kubehub::standin::TarEntry;
using kubehub::standin::TarReader;

class CheckedSink : public TarReader::Sink {
 public:
  void begin(const TarEntry& e) override {
    declared_ = e.size;
    got_ = 0;
  }
  void data(std::string_view bytes) override {
    got_ += bytes.size();
    if (got_ > declared_) std::abort();
  }
  void end() override {}
  void message(std::string) override {}

 private:
  uint64_t declared_ = 0;
  uint64_t got_ = 0;
};

void fuzzTar(std::string_view in) {
  using namespace kubehub::standin;
  CheckedSink sink;
  TarReader reader(sink);
  const size_t split = in.empty() ? 0 : static_cast<unsigned char>(in[0]) * in.size() / 256;
  reader.feed(in.substr(0, split));
  reader.feed(in.substr(split));
  reader.close();
  if (!reader.done()) std::abort();

  constexpr uint64_t kBudget = 1 << 20;
  ExecRequest req;
  req.command = {"tar", "-xmf", "-", "-C", "/tmp"};
  req.use_stdin = true;
  req.files = std::make_shared<PodFiles>(std::make_shared<StorageBudget>(kBudget));
  PodFileSystems::seed(*req.files, "fuzz");
  ExecCommand cmd(req);
  (void)cmd.start();
  (void)cmd.onStdin(in.substr(0, split));
  (void)cmd.onStdin(in.substr(split));
  if (!cmd.finished() && !cmd.onStdinClosed().status.has_value()) std::abort();
  if (req.files->budget().used() > kBudget) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kubehub::standin;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  static const Json kLabels = {{"app", "web"}, {"size", "5"}, {"example.com/x", ""}};
  static const Json kObject = {{"metadata", {{"name", "n"}, {"namespace", "d"}}}};
  if (auto s = kubehub::k8s::LabelSelector::parse(in); s.ok()) {
    (void)s->matches(&kLabels);
    (void)s->matches(static_cast<const Json*>(nullptr));
  }
  if (auto f = kubehub::k8s::FieldSelector::parse(in); f.ok()) (void)matchesFields(*f, kObject);
  if (auto t = ContinueToken::decode(in); t.ok()) {
    if (ContinueToken::decode(t->encode())->after_key != t->after_key) std::abort();
  }
  (void)decodeKubernetesProtobuf(in);
  if (auto p = parseProxyTarget(in); p.ok() && p->name.empty()) std::abort();
  (void)proxyBackendPath(in);
  fuzzTar(in);
  ResizeDecoder whole;
  ResizeDecoder split;
  std::vector<TerminalSize> sizes = whole.feed(in);
  std::vector<TerminalSize> pieces = split.feed(in.substr(0, size / 2));
  for (const TerminalSize& t : split.feed(in.substr(size / 2))) pieces.push_back(t);
  if (sizes != pieces || whole.failed() != split.failed()) std::abort();
  for (bool base64 : {false, true}) {
    PortForwardChannels channels(3, base64);
    auto message = channels.decode(in);
    if (message.has_value()) {
      if (message->port_index >= 3) std::abort();
      // What decodes re-encodes to a message that decodes to the same bytes.
      auto again = channels.decode(
          channels.encode(PortForwardChannels::dataChannel(message->port_index), message->data));
      if (!again.has_value() || again->data != message->data) std::abort();
    }
  }
  if (auto ports = parseChannelPorts({std::string(in)}); ports.ok()) {
    for (int p : *ports) {
      if (p < 1 || p > 65535) std::abort();
    }
  }
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
