#include "hub/api/hedged_read.h"

namespace kubehub::hub {

SentRead::~SentRead() {
  if (stream && !stream->isReset()) stream->reset(proto::ResetCode::kCancel, "read not needed");
}

std::shared_ptr<SentRead> sendRead(StreamQuota* quota, tunnel::Mux& mux, RequestPlan plan,
                                   const Principal& who) {
  auto* f = std::get_if<Forward>(&plan);
  if (f == nullptr || f->via != Forward::Via::kTunnel || !f->end_stream || f->stream_body ||
      f->upgrade || f->expect_continue || f->long_lived || !f->body.empty()) {
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
  return std::make_shared<SentRead>(std::move(*f), std::move(lease), std::move(*opened));
}

}  // namespace kubehub::hub
