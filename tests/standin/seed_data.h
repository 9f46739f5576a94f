#pragma once
/// The objects a fresh stand-in starts with: namespaces default, kube-system, kube-public and
/// kube-node-lease; three nodes (one NotReady), each with its Lease; a few pods (one with two
/// containers and restarts); configmaps, a secret, the kubernetes service, a deployment, an event
/// and two widgets. Plus N identical bench pods `bench-NNNNN` in default (label app=bench) for list
/// benchmarks.

#include <cstdint>

#include "tests/standin/object_store.h"

namespace kubehub::standin {

inline constexpr char kNodeLeaseNamespace[] = "kube-node-lease";

void seedObjects(ObjectStore& store, bool objects, int64_t extra_pods);

/// What the kubelets of the Ready nodes do every 10 s: each updates spec.renewTime of its Lease
/// in kube-node-lease (field manager "kubelet"), a write that moves the edge's resourceVersion
/// however quiet everything else is. Returns the leases renewed.
int renewNodeLeases(ObjectStore& store);

}  // namespace kubehub::standin
