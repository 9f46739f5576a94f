// Fuzzes the hub's reader of SelfSubjectAccessReview bodies (JSON and Kubernetes protobuf, as
// `kubectl auth can-i` sends them): no crash, no exception, and the denial the hub writes for
// whatever was read is JSON that reads back to the same attributes.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "hub/auth/access_review.h"

namespace {

using kubehub::hub::ReviewAttributes;

bool sameAttributes(const ReviewAttributes& a, const ReviewAttributes& b) {
  if (a.is_resource != b.is_resource || a.verb != b.verb) return false;
  if (!a.is_resource) return a.path == b.path;
  return a.namespace_name == b.namespace_name && a.group == b.group && a.version == b.version &&
         a.resource == b.resource && a.subresource == b.subresource && a.name == b.name;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kubehub::hub;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (std::string_view type : {"application/json", "application/vnd.kubernetes.protobuf"}) {
    auto a = parseAccessReview(in, type);
    if (!a.ok()) continue;
    std::string denied = deniedAccessReview(*a, "fuzz");
    auto again = parseAccessReview(denied, "application/json");
    if (!again.ok() || !sameAttributes(*a, *again)) std::abort();
  }
  return 0;
}
