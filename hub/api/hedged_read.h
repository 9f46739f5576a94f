#pragma once
/// A read sent to the edge while it also waits for the hub cache (serveFromCache's hedge): the
/// users' and the peers' servers open it the way they forward, keep it, and carry on with it if
/// the edge answers first.

#include <memory>
#include <optional>

#include "common/tunnel/mux.h"
#include "hub/api/request_plan.h"
#include "hub/api/stream_quota.h"
#include "hub/auth/principal.h"

namespace kubehub::hub {

/// The read's plan, its stream and the share of the tunnel's streams it holds.
struct SentRead {
  Forward f;
  StreamQuota::Lease lease;
  std::shared_ptr<tunnel::Stream> stream;
};

/// Sends `plan` through `mux` when it is a plain read through the tunnel (no body, no upgrade,
/// nothing more to come from the client) and `quota` (may be null) grants a stream at once; the
/// stream also goes into `*out`. Null, with nothing sent, otherwise: the read then waits for the
/// cache alone, and a refusal is for the forward after the wait to report.
std::shared_ptr<tunnel::Stream> sendRead(StreamQuota* quota, tunnel::Mux& mux, RequestPlan plan,
                                         const Principal& who, std::optional<SentRead>* out);

}  // namespace kubehub::hub
