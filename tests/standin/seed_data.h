#pragma once
/// The objects a fresh stand-in starts with: namespaces default, kube-system and kube-public;
/// three nodes (one NotReady); a few pods (one with two containers and restarts); configmaps, a
/// secret, the kubernetes service, a deployment, an event and two widgets. Plus N identical bench
/// pods `bench-NNNNN` in default (label app=bench) for list benchmarks.

#include <cstdint>

#include "tests/standin/object_store.h"

namespace kubehub::standin {

void seedObjects(ObjectStore& store, bool objects, int64_t extra_pods);

}  // namespace kubehub::standin
