// Fuzzes the Kubernetes semantics parsers (label and field selectors, list options, RFC 3339
// times): no crash; an accepted selector's canonical text parses back to itself; every refusal
// carries a Status body with the API server's code (400 or 422).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/k8s/api_error.h"
#include "common/k8s/field_selector.h"
#include "common/k8s/label_selector.h"
#include "common/k8s/list_options.h"
#include "common/k8s/rfc3339.h"

namespace {

using namespace kubehub::k8s;

void requireApiError(const absl::Status& s, int code_a, int code_b) {
  auto body = apiErrorBody(s);
  if (!body || (body->code != code_a && body->code != code_b) || s.message().empty()) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  static const LabelMap kLabels = {{"app", "web"}, {"n", "5"}, {"example.com/x", ""}};
  if (auto s = LabelSelector::parse(in); s.ok()) {
    (void)s->matches(kLabels);
    std::string canonical = s->str();
    auto again = LabelSelector::parse(canonical);
    if (!again.ok() || again->str() != canonical ||
        again->matches(kLabels) != s->matches(kLabels)) {
      std::abort();
    }
  } else {
    requireApiError(s.status(), 400, 400);
  }
  if (auto f = FieldSelector::parse(in); f.ok()) {
    (void)f->matches([](std::string_view field) { return std::string(field); });
  } else {
    requireApiError(f.status(), 400, 400);
  }
  auto o = parseListOptions(QueryValues(in));
  if (!o.ok()) requireApiError(o.status(), 400, 422);
  if (auto t = parseRfc3339(in)) {
    if (t->nanos < 0 || t->nanos > 999999999) std::abort();
    if (!parseRfc3339(formatRfc3339(t->seconds))) std::abort();
  }
  return 0;
}
