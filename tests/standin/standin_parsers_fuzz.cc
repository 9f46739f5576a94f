// Fuzzes the stand-in's parsers of untrusted input: label and field selectors, continue tokens,
// protobuf request bodies and proxy paths. No crash; a selector that parses matches without
// failing.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tests/standin/continue_token.h"
#include "tests/standin/field_selector.h"
#include "tests/standin/label_selector.h"
#include "tests/standin/protobuf_decoder.h"
#include "tests/standin/proxy_path.h"

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
  return 0;
}
