#include "hub/auth/access_review.h"

#include <nlohmann/json.hpp>

namespace kubehub::hub {

namespace {

/// Minimal protobuf wire reader: varints and length-delimited fields only (all we need).
class Pb {
 public:
  explicit Pb(std::string_view in) : in_(in) {}
  bool next(uint32_t* field, uint32_t* wire, std::string_view* bytes, uint64_t* varint) {
    if (pos_ >= in_.size()) return false;
    uint64_t key = 0;
    if (!readVarint(&key)) return fail();
    *field = static_cast<uint32_t>(key >> 3);
    *wire = static_cast<uint32_t>(key & 7);
    switch (*wire) {
      case 0:
        return readVarint(varint) || fail();
      case 1:
        if (in_.size() - pos_ < 8) return fail();
        pos_ += 8;
        return true;
      case 2: {
        uint64_t len = 0;
        if (!readVarint(&len) || len > in_.size() - pos_) return fail();
        *bytes = in_.substr(pos_, len);
        pos_ += len;
        return true;
      }
      case 5:
        if (in_.size() - pos_ < 4) return fail();
        pos_ += 4;
        return true;
      default:
        return fail();
    }
  }
  bool ok() const { return ok_; }

 private:
  bool readVarint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= in_.size()) return false;
      uint8_t b = static_cast<uint8_t>(in_[pos_++]);
      *v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  }
  bool fail() {
    ok_ = false;
    pos_ = in_.size();
    return false;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

/// The length-delimited sub-message `field` of `msg`, or empty.
std::string_view sub(std::string_view msg, uint32_t want, bool* ok) {
  Pb pb(msg);
  uint32_t field, wire;
  std::string_view bytes;
  uint64_t v;
  std::string_view found;
  while (pb.next(&field, &wire, &bytes, &v)) {
    if (field == want && wire == 2) found = bytes;
  }
  if (!pb.ok()) *ok = false;
  return found;
}

void strings(std::string_view msg, bool* ok,
             std::initializer_list<std::pair<uint32_t, std::string*>> out) {
  Pb pb(msg);
  uint32_t field, wire;
  std::string_view bytes;
  uint64_t v;
  while (pb.next(&field, &wire, &bytes, &v)) {
    for (auto& [f, s] : out) {
      if (f == field && wire == 2) s->assign(bytes);
    }
  }
  if (!pb.ok()) *ok = false;
}

/// Whether `s` is well-formed UTF-8 (RFC 3629: shortest form, no surrogates, at most U+10FFFF).
/// Protobuf strings are bytes on the wire; the hub's JSON answer repeats them.
bool validUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t extra = 0;
    uint32_t min = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      extra = 1, min = 0x80, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2, min = 0x800, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3, min = 0x10000, cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i <= extra) return false;
    for (size_t k = 1; k <= extra; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += extra + 1;
  }
  return true;
}

/// Reads the string member `key` of `o` into `out` (left as is when absent); false when it is
/// there with another type.
bool jsonString(const nlohmann::json& o, const char* key, std::string* out) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return true;
  if (!it->is_string()) return false;
  *out = it->get<std::string>();
  return true;
}

}  // namespace

absl::StatusOr<ReviewAttributes> parseAccessReview(std::string_view body,
                                                   std::string_view content_type) {
  ReviewAttributes a;
  if (content_type.starts_with("application/vnd.kubernetes.protobuf")) {
    constexpr std::string_view kMagic("k8s\0", 4);
    if (!body.starts_with(kMagic))
      return absl::InvalidArgumentError("protobuf body without the k8s envelope");
    bool ok = true;
    std::string_view raw = sub(body.substr(4), 2, &ok);  // runtime.Unknown.raw
    std::string_view spec = sub(raw, 2, &ok);            // SelfSubjectAccessReview.spec
    std::string_view ra = sub(spec, 1, &ok);             // resourceAttributes
    std::string_view nra = sub(spec, 2, &ok);            // nonResourceAttributes
    if (!ra.empty()) {
      strings(ra, &ok,
              {{1, &a.namespace_name},
               {2, &a.verb},
               {3, &a.group},
               {4, &a.version},
               {5, &a.resource},
               {6, &a.subresource},
               {7, &a.name}});
    } else if (!nra.empty()) {
      a.is_resource = false;
      strings(nra, &ok, {{1, &a.path}, {2, &a.verb}});
    } else {
      ok = ok && !spec.empty();
    }
    for (const std::string* field : {&a.namespace_name, &a.verb, &a.group, &a.version, &a.resource,
                                     &a.subresource, &a.name, &a.path}) {
      ok = ok && validUtf8(*field);
    }
    if (!ok) return absl::InvalidArgumentError("malformed SelfSubjectAccessReview (protobuf)");
    return a;
  }
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("spec") || !j["spec"].is_object()) {
    return absl::InvalidArgumentError("malformed SelfSubjectAccessReview");
  }
  const auto& spec = j["spec"];
  bool ok = true;
  if (spec.contains("resourceAttributes") && spec["resourceAttributes"].is_object()) {
    const auto& r = spec["resourceAttributes"];
    ok = jsonString(r, "namespace", &a.namespace_name) && jsonString(r, "verb", &a.verb) &&
         jsonString(r, "group", &a.group) && jsonString(r, "version", &a.version) &&
         jsonString(r, "resource", &a.resource) && jsonString(r, "subresource", &a.subresource) &&
         jsonString(r, "name", &a.name);
  } else if (spec.contains("nonResourceAttributes") && spec["nonResourceAttributes"].is_object()) {
    a.is_resource = false;
    const auto& n = spec["nonResourceAttributes"];
    ok = jsonString(n, "path", &a.path) && jsonString(n, "verb", &a.verb);
  }
  if (!ok) return absl::InvalidArgumentError("malformed SelfSubjectAccessReview");
  return a;
}

std::string deniedAccessReview(const ReviewAttributes& a, std::string_view reason) {
  nlohmann::ordered_json spec;
  if (a.is_resource) {
    nlohmann::ordered_json ra;
    if (!a.namespace_name.empty()) ra["namespace"] = a.namespace_name;
    ra["verb"] = a.verb;
    if (!a.group.empty()) ra["group"] = a.group;
    if (!a.version.empty()) ra["version"] = a.version;
    ra["resource"] = a.resource;
    if (!a.subresource.empty()) ra["subresource"] = a.subresource;
    if (!a.name.empty()) ra["name"] = a.name;
    spec["resourceAttributes"] = ra;
  } else {
    spec["nonResourceAttributes"] = {{"path", a.path}, {"verb", a.verb}};
  }
  nlohmann::ordered_json j = {{"kind", "SelfSubjectAccessReview"},
                              {"apiVersion", "authorization.k8s.io/v1"},
                              {"metadata", nlohmann::json::object()},
                              {"spec", spec},
                              {"status", {{"allowed", false}, {"reason", std::string(reason)}}}};
  return j.dump();
}

}  // namespace kubehub::hub
