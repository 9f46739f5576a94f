#pragma once
/// What the controllers, scheduler and kubelet of a real cluster would do to an object soon
/// after a write, done at once so clients see settled objects: pods get scheduled and report
/// Running with ready containers, deployments report their replicas available, namespaces are
/// Active, services get a cluster IP. Also the API server's own defaulting. Pure.

#include "tests/standin/json_types.h"
#include "tests/standin/resource_types.h"

namespace kubehub::standin {

/// Fills defaults and status of `object` (of type `type`) in place. `creation_timestamp` is
/// the object's creation time, used for status timestamps.
void applySimulatedControllers(const ResourceType& type, Json& object);

/// A deterministic pseudo-random 32-bit value of a string (for IPs and container ids).
uint32_t stableHash(std::string_view s);

}  // namespace kubehub::standin
