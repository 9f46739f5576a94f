#pragma once
/// What the controllers, scheduler and kubelet of a real cluster would do to an object soon
/// after a write, done at once so clients see settled objects: pods get scheduled and report
/// Running with ready containers, deployments report their replicas available, namespaces are
/// Active, services get a cluster IP. Also the API server's own defaulting. Pure.

#include "absl/status/status.h"
#include "tests/standin/json_types.h"
#include "tests/standin/resource_types.h"

namespace kubehub::standin {

/// Fills defaults and status of `object` (of type `type`) in place. `creation_timestamp` is
/// the object's creation time, used for status timestamps.
void applySimulatedControllers(const ResourceType& type, Json& object);

/// The API server's own validation and normalisation of a write the store does not know from
/// the type's schema: for Secrets, stringData is merged into data (base64) and dropped, a
/// kubernetes.io/tls Secret must have the keys tls.crt and tls.key (empty values are fine), and
/// the type never changes once created (`old`: the object being replaced, or nullptr for a
/// create). 422 Invalid bodies like the real server's otherwise.
absl::Status validateWrite(const ResourceType& type, Json& object, const Json* old);

/// A deterministic pseudo-random 32-bit value of a string (for IPs and container ids).
uint32_t stableHash(std::string_view s);

}  // namespace kubehub::standin
