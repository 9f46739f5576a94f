#include "tests/standin/protobuf_decoder.h"

#include <cstdint>
#include <vector>

#include "absl/strings/escaping.h"
#include "common/k8s/rfc3339.h"
#include "tests/standin/api_error.h"

namespace kubehub::standin {
namespace {

enum class Kind {
  kString,
  kInt,
  kBool,
  kBytes,  // JSON: base64
  kMessage,
  kStringMap,
  kBytesMap,
  kRepeatedString,
  kTime,  // metav1.Time {seconds=1, nanos=2} → RFC 3339
  kRepeatedMessage,
  kIntOrString,  // intstr.IntOrString {type=1, intVal=2, strVal=3}
  kQuantityMap,  // map<string, resource.Quantity{string=1}>
};

struct MessageDesc;
struct FieldDesc {
  int number;
  const char* name;
  Kind kind;
  const MessageDesc* message = nullptr;
};
struct MessageDesc {
  std::vector<FieldDesc> fields;
};

// Field numbers from k8s.io/api generated.proto.
const MessageDesc kObjectMeta{{{1, "name", Kind::kString},
                               {2, "generateName", Kind::kString},
                               {3, "namespace", Kind::kString},
                               {5, "uid", Kind::kString},
                               {6, "resourceVersion", Kind::kString},
                               {7, "generation", Kind::kInt},
                               {8, "creationTimestamp", Kind::kTime},
                               {11, "labels", Kind::kStringMap},
                               {12, "annotations", Kind::kStringMap},
                               {14, "finalizers", Kind::kRepeatedString}}};
const MessageDesc kConfigMap{{{1, "metadata", Kind::kMessage, &kObjectMeta},
                              {2, "data", Kind::kStringMap},
                              {3, "binaryData", Kind::kBytesMap},
                              {4, "immutable", Kind::kBool}}};
const MessageDesc kSecret{{{1, "metadata", Kind::kMessage, &kObjectMeta},
                           {2, "data", Kind::kBytesMap},
                           {3, "type", Kind::kString},
                           {4, "stringData", Kind::kStringMap},
                           {5, "immutable", Kind::kBool}}};
const MessageDesc kNamespaceSpec{{{1, "finalizers", Kind::kRepeatedString}}};
const MessageDesc kNamespace{
    {{1, "metadata", Kind::kMessage, &kObjectMeta}, {2, "spec", Kind::kMessage, &kNamespaceSpec}}};
const MessageDesc kSelfSubjectReview{{{1, "metadata", Kind::kMessage, &kObjectMeta}}};
const MessageDesc kResourceAttributes{{{1, "namespace", Kind::kString},
                                       {2, "verb", Kind::kString},
                                       {3, "group", Kind::kString},
                                       {4, "version", Kind::kString},
                                       {5, "resource", Kind::kString},
                                       {6, "subresource", Kind::kString},
                                       {7, "name", Kind::kString}}};
const MessageDesc kNonResourceAttributes{{{1, "path", Kind::kString}, {2, "verb", Kind::kString}}};
const MessageDesc kAccessReviewSpec{
    {{1, "resourceAttributes", Kind::kMessage, &kResourceAttributes},
     {2, "nonResourceAttributes", Kind::kMessage, &kNonResourceAttributes}}};
const MessageDesc kSelfSubjectAccessReview{{{1, "metadata", Kind::kMessage, &kObjectMeta},
                                            {2, "spec", Kind::kMessage, &kAccessReviewSpec}}};
const MessageDesc kRulesReviewSpec{{{1, "namespace", Kind::kString}}};
const MessageDesc kSelfSubjectRulesReview{{{1, "metadata", Kind::kMessage, &kObjectMeta},
                                           {2, "spec", Kind::kMessage, &kRulesReviewSpec}}};
// apps/v1 Deployment as `kubectl create deployment` writes it (the fields it can set).
const MessageDesc kLabelSelectorRequirement{{{1, "key", Kind::kString},
                                             {2, "operator", Kind::kString},
                                             {3, "values", Kind::kRepeatedString}}};
const MessageDesc kLabelSelector{
    {{1, "matchLabels", Kind::kStringMap},
     {2, "matchExpressions", Kind::kRepeatedMessage, &kLabelSelectorRequirement}}};
const MessageDesc kContainerPort{{{1, "name", Kind::kString},
                                  {2, "hostPort", Kind::kInt},
                                  {3, "containerPort", Kind::kInt},
                                  {4, "protocol", Kind::kString},
                                  {5, "hostIP", Kind::kString}}};
const MessageDesc kEnvVar{{{1, "name", Kind::kString}, {2, "value", Kind::kString}}};
const MessageDesc kResources{
    {{1, "limits", Kind::kQuantityMap}, {2, "requests", Kind::kQuantityMap}}};
const MessageDesc kVolumeMount{{{1, "name", Kind::kString},
                                {2, "readOnly", Kind::kBool},
                                {3, "mountPath", Kind::kString},
                                {4, "subPath", Kind::kString}}};
const MessageDesc kContainer{{{1, "name", Kind::kString},
                              {2, "image", Kind::kString},
                              {3, "command", Kind::kRepeatedString},
                              {4, "args", Kind::kRepeatedString},
                              {5, "workingDir", Kind::kString},
                              {6, "ports", Kind::kRepeatedMessage, &kContainerPort},
                              {7, "env", Kind::kRepeatedMessage, &kEnvVar},
                              {8, "resources", Kind::kMessage, &kResources},
                              {9, "volumeMounts", Kind::kRepeatedMessage, &kVolumeMount},
                              {13, "terminationMessagePath", Kind::kString},
                              {14, "imagePullPolicy", Kind::kString},
                              {16, "stdin", Kind::kBool},
                              {17, "stdinOnce", Kind::kBool},
                              {18, "tty", Kind::kBool},
                              {20, "terminationMessagePolicy", Kind::kString}}};
const MessageDesc kPodSpec{{{2, "containers", Kind::kRepeatedMessage, &kContainer},
                            {3, "restartPolicy", Kind::kString},
                            {4, "terminationGracePeriodSeconds", Kind::kInt},
                            {6, "dnsPolicy", Kind::kString},
                            {7, "nodeSelector", Kind::kStringMap},
                            {8, "serviceAccountName", Kind::kString},
                            {10, "nodeName", Kind::kString},
                            {11, "hostNetwork", Kind::kBool},
                            {16, "hostname", Kind::kString},
                            {19, "schedulerName", Kind::kString},
                            {20, "initContainers", Kind::kRepeatedMessage, &kContainer}}};
const MessageDesc kPodTemplateSpec{
    {{1, "metadata", Kind::kMessage, &kObjectMeta}, {2, "spec", Kind::kMessage, &kPodSpec}}};
const MessageDesc kRollingUpdate{
    {{1, "maxUnavailable", Kind::kIntOrString}, {2, "maxSurge", Kind::kIntOrString}}};
const MessageDesc kStrategy{
    {{1, "type", Kind::kString}, {2, "rollingUpdate", Kind::kMessage, &kRollingUpdate}}};
const MessageDesc kDeploymentSpec{{{1, "replicas", Kind::kInt},
                                   {2, "selector", Kind::kMessage, &kLabelSelector},
                                   {3, "template", Kind::kMessage, &kPodTemplateSpec},
                                   {4, "strategy", Kind::kMessage, &kStrategy},
                                   {5, "minReadySeconds", Kind::kInt},
                                   {6, "revisionHistoryLimit", Kind::kInt},
                                   {7, "paused", Kind::kBool},
                                   {9, "progressDeadlineSeconds", Kind::kInt}}};
const MessageDesc kDeployment{
    {{1, "metadata", Kind::kMessage, &kObjectMeta}, {2, "spec", Kind::kMessage, &kDeploymentSpec}}};

const MessageDesc kTypeMeta{{{1, "apiVersion", Kind::kString}, {2, "kind", Kind::kString}}};

const MessageDesc* descriptorFor(std::string_view api_version, std::string_view kind) {
  if (api_version == "v1" && kind == "ConfigMap") return &kConfigMap;
  if (api_version == "v1" && kind == "Secret") return &kSecret;
  if (api_version == "v1" && kind == "Namespace") return &kNamespace;
  if (api_version == "apps/v1" && kind == "Deployment") return &kDeployment;
  if (kind == "SelfSubjectReview" && api_version.starts_with("authentication.k8s.io/")) {
    return &kSelfSubjectReview;
  }
  if (api_version == "authorization.k8s.io/v1" && kind == "SelfSubjectAccessReview") {
    return &kSelfSubjectAccessReview;
  }
  if (api_version == "authorization.k8s.io/v1" && kind == "SelfSubjectRulesReview") {
    return &kSelfSubjectRulesReview;
  }
  return nullptr;
}

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool done() const { return pos_ >= data_.size(); }

  bool varint(uint64_t* out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return false;
      uint8_t b = static_cast<uint8_t>(data_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        *out = v;
        return true;
      }
    }
    return false;
  }
  bool bytes(std::string_view* out) {
    uint64_t len = 0;
    if (!varint(&len) || len > data_.size() - pos_) return false;
    *out = data_.substr(pos_, static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return true;
  }
  bool skip(int wire_type) {
    uint64_t ignored = 0;
    std::string_view s;
    switch (wire_type) {
      case 0:
        return varint(&ignored);
      case 1:
        return advance(8);
      case 2:
        return bytes(&s);
      case 5:
        return advance(4);
      default:
        return false;
    }
  }

 private:
  bool advance(size_t n) {
    if (n > data_.size() - pos_) return false;
    pos_ += n;
    return true;
  }
  std::string_view data_;
  size_t pos_ = 0;
};

absl::Status malformed() { return badRequest("the protobuf body of the request is malformed"); }

absl::StatusOr<Json> decodeMessage(std::string_view data, const MessageDesc& desc, int depth);

absl::StatusOr<std::pair<std::string, std::string>> decodeMapEntry(std::string_view data) {
  Reader r(data);
  std::pair<std::string, std::string> kv;
  while (!r.done()) {
    uint64_t key = 0;
    if (!r.varint(&key)) return malformed();
    int field = static_cast<int>(key >> 3);
    int wire = static_cast<int>(key & 7);
    std::string_view s;
    if ((field == 1 || field == 2) && wire == 2) {
      if (!r.bytes(&s)) return malformed();
      (field == 1 ? kv.first : kv.second) = std::string(s);
    } else if (!r.skip(wire)) {
      return malformed();
    }
  }
  return kv;
}

absl::StatusOr<Json> decodeMessage(std::string_view data, const MessageDesc& desc, int depth) {
  if (depth > 16) return malformed();
  Json out = Json::object();
  Reader r(data);
  while (!r.done()) {
    uint64_t key = 0;
    if (!r.varint(&key)) return malformed();
    int number = static_cast<int>(key >> 3);
    int wire = static_cast<int>(key & 7);
    const FieldDesc* f = nullptr;
    for (const FieldDesc& fd : desc.fields) {
      if (fd.number == number) f = &fd;
    }
    if (f == nullptr) {
      if (!r.skip(wire)) return malformed();
      continue;
    }
    if (f->kind == Kind::kInt || f->kind == Kind::kBool) {
      uint64_t v = 0;
      if (wire != 0 || !r.varint(&v)) return malformed();
      // Generated marshallers also write zero values of non-pointer fields, which JSON
      // omits; only replicas has a meaningful zero here.
      if (v == 0 && std::string_view(f->name) != "replicas") continue;
      if (f->kind == Kind::kInt) {
        out[f->name] = static_cast<int64_t>(v);
      } else {
        out[f->name] = true;
      }
      continue;
    }
    std::string_view s;
    if (wire != 2 || !r.bytes(&s)) return malformed();
    switch (f->kind) {
      case Kind::kString:
        // Generated marshallers write empty strings; JSON omits them.
        if (!s.empty()) out[f->name] = std::string(s);
        break;
      case Kind::kRepeatedMessage: {
        auto m = decodeMessage(s, *f->message, depth + 1);
        if (!m.ok()) return m.status();
        if (!out.contains(f->name)) out[f->name] = Json::array();
        out[f->name].push_back(std::move(*m));
        break;
      }
      case Kind::kIntOrString: {
        Reader ir(s);
        int64_t type = 0;
        int64_t int_val = 0;
        std::string str_val;
        while (!ir.done()) {
          uint64_t ik = 0;
          if (!ir.varint(&ik)) return malformed();
          uint64_t v = 0;
          std::string_view sv;
          if ((ik >> 3) == 1 && (ik & 7) == 0 && ir.varint(&v)) {
            type = static_cast<int64_t>(v);
          } else if ((ik >> 3) == 2 && (ik & 7) == 0 && ir.varint(&v)) {
            int_val = static_cast<int64_t>(static_cast<int32_t>(v));
          } else if ((ik >> 3) == 3 && (ik & 7) == 2 && ir.bytes(&sv)) {
            str_val = std::string(sv);
          } else if (!ir.skip(static_cast<int>(ik & 7))) {
            return malformed();
          }
        }
        out[f->name] = type == 1 ? Json(str_val) : Json(int_val);
        break;
      }
      case Kind::kQuantityMap: {
        // Entry {key=1, value=2 Quantity{string=1}}.
        Reader er(s);
        std::string key;
        std::string value;
        while (!er.done()) {
          uint64_t ek = 0;
          std::string_view sv;
          if (!er.varint(&ek)) return malformed();
          if ((ek & 7) == 2 && er.bytes(&sv)) {
            if ((ek >> 3) == 1) key = std::string(sv);
            if ((ek >> 3) == 2) {
              auto q = decodeMapEntry(sv);  // field 1 of Quantity lands in `first`
              if (!q.ok()) return q.status();
              value = q->first;
            }
          } else if (!er.skip(static_cast<int>(ek & 7))) {
            return malformed();
          }
        }
        if (!out.contains(f->name)) out[f->name] = Json::object();
        out[f->name][key] = value;
        break;
      }
      case Kind::kBytes:
        out[f->name] = absl::Base64Escape(absl::string_view(s.data(), s.size()));
        break;
      case Kind::kMessage: {
        auto m = decodeMessage(s, *f->message, depth + 1);
        if (!m.ok()) return m.status();
        out[f->name] = std::move(*m);
        break;
      }
      case Kind::kStringMap:
      case Kind::kBytesMap: {
        auto kv = decodeMapEntry(s);
        if (!kv.ok()) return kv.status();
        if (!out.contains(f->name)) out[f->name] = Json::object();
        out[f->name][kv->first] =
            f->kind == Kind::kStringMap
                ? kv->second
                : absl::Base64Escape(absl::string_view(kv->second.data(), kv->second.size()));
        break;
      }
      case Kind::kRepeatedString:
        if (!out.contains(f->name)) out[f->name] = Json::array();
        out[f->name].push_back(std::string(s));
        break;
      case Kind::kTime: {
        Reader tr(s);
        int64_t seconds = 0;
        while (!tr.done()) {
          uint64_t tk = 0;
          uint64_t v = 0;
          if (!tr.varint(&tk)) return malformed();
          if ((tk >> 3) == 1 && (tk & 7) == 0) {
            if (!tr.varint(&v)) return malformed();
            seconds = static_cast<int64_t>(v);
          } else if (!tr.skip(static_cast<int>(tk & 7))) {
            return malformed();
          }
        }
        if (seconds != 0) out[f->name] = k8s::formatRfc3339(seconds);
        break;
      }
      default:
        break;
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<Json> decodeKubernetesProtobuf(std::string_view body) {
  static constexpr std::string_view kMagic("k8s\0", 4);
  if (!body.starts_with(kMagic)) return malformed();
  Reader r(body.substr(kMagic.size()));
  std::string_view type_meta;
  std::string_view raw;
  while (!r.done()) {
    uint64_t key = 0;
    if (!r.varint(&key)) return malformed();
    int field = static_cast<int>(key >> 3);
    int wire = static_cast<int>(key & 7);
    if (field == 1 && wire == 2) {
      if (!r.bytes(&type_meta)) return malformed();
    } else if (field == 2 && wire == 2) {
      if (!r.bytes(&raw)) return malformed();
    } else if (!r.skip(wire)) {
      return malformed();
    }
  }
  auto tm = decodeMessage(type_meta, kTypeMeta, 0);
  if (!tm.ok()) return tm.status();
  std::string api_version = tm->value("apiVersion", std::string());
  std::string kind = tm->value("kind", std::string());
  const MessageDesc* desc = descriptorFor(api_version, kind);
  if (desc == nullptr) {
    return apiError(415, "UnsupportedMediaType",
                    "the stand-in cannot decode protobuf bodies of " + api_version + " " + kind +
                        "; send application/json");
  }
  auto obj = decodeMessage(raw, *desc, 0);
  if (!obj.ok()) return obj.status();
  Json out = {{"kind", kind}, {"apiVersion", api_version}};
  for (auto it = obj->begin(); it != obj->end(); ++it) out[it.key()] = it.value();
  return out;
}

}  // namespace kubehub::standin
