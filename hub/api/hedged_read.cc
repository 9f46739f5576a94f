#include "hub/api/hedged_read.h"

namespace kubehub::hub {

std::shared_ptr<tunnel::Stream> sendRead(StreamQuota* quota, tunnel::Mux& mux, RequestPlan plan,
                                         const Principal& who, std::optional<SentRead>* out) {
  auto* f = std::get_if<Forward>(&plan);
  if (f == nullptr || f->via != Forward::Via::kTunnel || !f->end_stream || f->stream_body ||
      f->upgrade || f->expect_continue || !f->body.empty()) {
    return nullptr;
  }
  StreamQuota::Lease lease;
  if (quota != nullptr && f->stream_quota) {
    StreamQuota::Refusal why;
    auto granted = quota->tryAcquire(f->cluster, who.tenant, who.user, f->long_lived, &why);
    if (!granted) return nullptr;
    lease = std::move(*granted);
  }
  auto opened = mux.openStream(f->head, true);
  if (!opened.ok()) return nullptr;
  out->emplace(SentRead{std::move(*f), std::move(lease), *opened});
  return std::move(*opened);
}

}  // namespace kubehub::hub
