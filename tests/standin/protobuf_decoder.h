#pragma once
/// Decodes the Kubernetes protobuf envelope ("k8s\0" + runtime.Unknown) of the few request
/// bodies kubectl's typed clients send as protobuf (`create configmap|secret|namespace`,
/// `auth whoami`, `auth can-i`) into the equivalent JSON object, using a small table of the
/// generated field numbers. Other kinds are refused with 415, as a server without that type's
/// protobuf would. Pure; bounds-checked (bodies are untrusted).

#include <string_view>

#include "absl/status/statusor.h"
#include "tests/standin/json_types.h"

namespace kubehub::standin {

constexpr std::string_view kProtobufContentType = "application/vnd.kubernetes.protobuf";

absl::StatusOr<Json> decodeKubernetesProtobuf(std::string_view body);

}  // namespace kubehub::standin
