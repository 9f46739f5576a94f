#pragma once
/// A read sent to the edge while it also waits for the hub cache (serveFromCache's hedge): the
/// users' and the peers' servers open it the way they forward, and carry on with it if the edge
/// answers first.

#include <memory>

#include "common/tunnel/mux.h"
#include "hub/api/request_plan.h"
#include "hub/api/stream_quota.h"
#include "hub/auth/principal.h"

namespace kubehub::hub {

/// The read's plan, its stream and the share of the tunnel's streams it holds. Dropped with its
/// stream still in it (the cache answered first), it resets the stream and gives the share back.
struct SentRead {
  SentRead(Forward f_in, StreamQuota::Lease lease_in, std::shared_ptr<tunnel::Stream> stream_in)
      : f(std::move(f_in)), lease(std::move(lease_in)), stream(std::move(stream_in)) {}
  SentRead(const SentRead&) = delete;
  SentRead& operator=(const SentRead&) = delete;
  ~SentRead();

  Forward f;
  StreamQuota::Lease lease;
  std::shared_ptr<tunnel::Stream> stream;
};

/// Sends `plan` through `mux` when it is a plain, short read through the tunnel (no body, no
/// upgrade, not a watch or a followed log) and `quota` (may be null) grants a stream at once.
/// Null, with nothing sent, otherwise: the read then waits for the cache alone, and a refusal is
/// for the forward after the wait to report.
std::shared_ptr<SentRead> sendRead(StreamQuota* quota, tunnel::Mux& mux, RequestPlan plan,
                                   const Principal& who);

}  // namespace kubehub::hub
