// Differential fuzzing of the label and field selector parsers and matchers against the
// independent reference implementations in tests/fuzz/reference/: both must accept or refuse
// the same text, and accepted selectors must select the same label (field) sets. The input is
// the selector text, then (after a 0xff byte) bytes that pick label sets to match.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/k8s/field_selector.h"
#include "common/k8s/label_selector.h"
#include "tests/fuzz/reference/field_selector.h"
#include "tests/fuzz/reference/label_selector.h"

namespace {

using Map = std::map<std::string, std::string>;

[[noreturn]] void differ(std::string_view what, std::string_view text) {
  std::fprintf(stderr, "%.*s differ on: ", static_cast<int>(what.size()), what.data());
  for (unsigned char c : text) std::fprintf(stderr, c >= 0x20 && c < 0x7f ? "%c" : "\\x%02x", c);
  std::fprintf(stderr, "\n");
  std::abort();
}

bool validUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    auto b = static_cast<unsigned char>(s[i]);
    size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t v = n == 1 ? b : n == 2 ? (b & 0x1f) : n == 3 ? (b & 0x0f) : (b & 0x07);
    for (size_t k = 1; k < n; ++k) {
      auto c = static_cast<unsigned char>(s[i + k]);
      if ((c >> 6) != 2) return false;
      v = (v << 6) | (c & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < kMin[n] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return false;
    i += n;
  }
  return true;
}

// Label sets built from the keys and values the selector names plus a few others, so that
// matches are often decided by the values the selector compares with.
std::vector<Map> labelSets(const std::vector<std::string>& keys,
                           const std::vector<std::string>& values, std::string_view picks) {
  std::vector<std::string> vals = values;
  for (const char* v : {"", "a", "5", "-3", "10", "x.y", "in"}) vals.emplace_back(v);
  std::vector<std::string> ks = keys;
  ks.emplace_back("other");
  std::vector<Map> sets(1);  // the empty set first
  Map current;
  for (size_t i = 0; i + 1 < picks.size() && sets.size() < 16; i += 2) {
    auto a = static_cast<unsigned char>(picks[i]);
    auto b = static_cast<unsigned char>(picks[i + 1]);
    if (a % 5 == 0) {
      sets.push_back(current);
      current.clear();
      continue;
    }
    current[ks[a % ks.size()]] = vals[b % vals.size()];
  }
  sets.push_back(current);
  return sets;
}

void labels(std::string_view text, std::string_view picks) {
  auto ours = kubehub::k8s::LabelSelector::parse(text);
  auto ref = kubehub::reference::LabelSelector::parse(text);
  if (ours.ok() != ref.ok()) differ("label selector acceptance", text);
  if (!ours.ok()) return;
  std::vector<std::string> keys;
  std::vector<std::string> values;
  for (const auto& r : ref->requirements()) {
    keys.push_back(r.key);
    values.insert(values.end(), r.values.begin(), r.values.end());
  }
  for (const Map& m : labelSets(keys, values, picks)) {
    kubehub::k8s::LabelMap lm(m.begin(), m.end());
    if (ours->matches(lm) != ref->matches(m)) differ("label selector matches", text);
  }
}

void fields(std::string_view text, std::string_view picks) {
  auto ours = kubehub::k8s::FieldSelector::parse(text);
  auto ref = kubehub::reference::FieldSelector::parse(text);
  if (ours.ok() != ref.ok()) differ("field selector acceptance", text);
  if (!ours.ok() || !validUtf8(text)) return;  // the server reads invalid UTF-8 as U+FFFD
  std::vector<std::string> a;
  std::vector<std::string> b;
  for (const auto& t : ours->terms()) a.push_back(t.field + (t.equal ? "=" : "!") + t.value);
  for (const auto& r : ref->requirements())
    b.push_back(r.field + (r.negated ? "!" : "=") + r.value);
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  if (a != b) differ("field selector terms", text);
  std::vector<std::string> keys;
  std::vector<std::string> values;
  for (const auto& r : ref->requirements()) {
    keys.push_back(r.field);
    values.push_back(r.value);
  }
  for (const Map& m : labelSets(keys, values, picks)) {
    bool mine = ours->matches([&m](std::string_view f) {
      auto it = m.find(std::string(f));
      return it == m.end() ? std::string() : it->second;
    });
    if (mine != ref->matches(m)) differ("field selector matches", text);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t cut = in.find('\xff');
  std::string_view text = in.substr(0, cut);
  std::string_view picks = cut == std::string_view::npos ? std::string_view() : in.substr(cut + 1);
  labels(text, picks);
  fields(text, picks);
  return 0;
}
