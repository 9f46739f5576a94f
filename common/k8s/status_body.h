#pragma once
/// Kubernetes `Status` response bodies (metav1.Status), as kubectl prints them.

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace kubehub::k8s {

/// The canonical reason for an HTTP code ("NotFound", "Forbidden", ...).
std::string_view reasonForCode(int code);

/// A `Status` object with status "Failure". `details_name`/`details_kind` are optional.
std::string statusBody(int code, std::string_view message, std::string_view reason = {},
                       std::string_view details_name = {}, std::string_view details_kind = {});

/// Maps an absl status code to the HTTP code a client should see.
int httpCodeFor(const absl::Status& status);

}  // namespace kubehub::k8s
