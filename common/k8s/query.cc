#include "common/k8s/query.h"

#include <cctype>

namespace kubehub::k8s {

namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// url.QueryUnescape; false on a malformed escape.
bool queryUnescape(std::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out->push_back(' ');
    } else if (in[i] == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = hexValue(in[i + 1]);
      int lo = hexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out->push_back(in[i]);
    }
  }
  return true;
}

// Decodes one '&'-separated pair as url.ParseQuery does; false when it drops the pair.
bool decodePair(std::string_view kv, std::string* key, std::string* value) {
  if (kv.find(';') != std::string_view::npos) return false;
  size_t eq = kv.find('=');
  if (!queryUnescape(kv.substr(0, eq), key)) return false;
  value->clear();
  return eq == std::string_view::npos || queryUnescape(kv.substr(eq + 1), value);
}

// Calls `each(kv, decoded, key, value)` for every non-empty '&'-separated pair, `decoded`
// false when url.ParseQuery drops it, until `each` returns false.
template <typename Each>
void forEachRawPair(std::string_view raw, Each&& each) {
  size_t pos = 0;
  std::string key;
  std::string value;
  while (pos < raw.size()) {
    size_t end = raw.find('&', pos);
    if (end == std::string_view::npos) end = raw.size();
    std::string_view kv = raw.substr(pos, end - pos);
    pos = end + 1;
    if (!kv.empty() && !each(kv, decodePair(kv, &key, &value), key, value)) return;
  }
}

// Calls `each(key, value)` for every pair url.ParseQuery keeps, until it returns false.
template <typename Each>
void forEachPair(std::string_view raw, Each&& each) {
  forEachRawPair(raw, [&](std::string_view, bool decoded, std::string& key, std::string& value) {
    return !decoded || each(key, value);
  });
}

bool boolValue(const std::optional<std::string>& v) {
  if (!v.has_value() || *v == "0") return false;
  if (v->size() != 5) return true;
  for (size_t i = 0; i < 5; ++i) {
    if (std::tolower(static_cast<unsigned char>((*v)[i])) != "false"[i]) return true;
  }
  return false;
}

}  // namespace

QueryValues::QueryValues(std::string_view raw) {
  forEachPair(raw, [this](std::string& key, std::string& value) {
    pairs_.emplace_back(std::move(key), std::move(value));
    return true;
  });
}

std::optional<std::string> QueryValues::first(std::string_view name) const {
  for (const auto& [k, v] : pairs_) {
    if (k == name) return v;
  }
  return std::nullopt;
}

bool queryBool(const QueryValues& q, std::string_view name) { return boolValue(q.first(name)); }

std::optional<std::string> queryParam(std::string_view query, std::string_view name) {
  std::optional<std::string> found;
  forEachPair(query, [&](std::string& key, std::string& value) {
    if (key != name) return true;
    found = std::move(value);
    return false;
  });
  return found;
}

bool queryFlag(std::string_view query, std::string_view name) {
  return boolValue(queryParam(query, name));
}

std::optional<std::string> droppedQueryPair(std::string_view query) {
  std::optional<std::string> dropped;
  forEachRawPair(query, [&](std::string_view kv, bool decoded, std::string&, std::string&) {
    if (!decoded) dropped = std::string(kv);
    return decoded;
  });
  return dropped;
}

}  // namespace kubehub::k8s
