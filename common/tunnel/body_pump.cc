#include "common/tunnel/body_pump.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/read.hpp>
#include <string>
#include <vector>

#include "common/log/log.h"
#include "common/net/http_chunks.h"

namespace kubehub::tunnel {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

/// parsedBodyToStream's parse buffer: at most this much per read while bytes are waiting, and
/// shrunk when the body goes quiet with more than kQuietReadBytes.
constexpr size_t kBodyReadBytes = 64 * 1024;
constexpr size_t kQuietReadBytes = 4 * 1024;
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

asio::const_buffer view(std::string_view v) { return asio::buffer(v.data(), v.size()); }
}  // namespace

char* ChunkBuffer::get(bool filled_up) {
  size_t want = filled_up ? max_ : std::max(size_, start_);
  if (want != size_) {
    data_.reset(new char[want]);
    size_ = want;
  }
  return data_.get();
}

asio::awaitable<bool> writeAll(net::TlsStream* s, std::chrono::milliseconds timeout,
                               asio::const_buffer a, asio::const_buffer b, asio::const_buffer c) {
  std::vector<asio::const_buffer> buffers;
  buffers.push_back(a);
  if (b.size() > 0) buffers.push_back(b);
  if (c.size() > 0) buffers.push_back(c);
  beast::get_lowest_layer(*s).expires_after(timeout);
  auto [ec, n] = co_await asio::async_write(*s, buffers, kUseTuple);
  beast::get_lowest_layer(*s).expires_never();
  co_return !ec;
}

asio::awaitable<std::tuple<boost::system::error_code, size_t>> readSomeNoDeadline(
    net::TlsStream* s, asio::mutable_buffer into) {
  beast::get_lowest_layer(*s).expires_never();
  co_return co_await s->async_read_some(into, kUseTuple);
}

asio::awaitable<bool> streamToSocket(net::TlsStream* s, std::shared_ptr<Stream> stream,
                                     PumpOut out) {
  std::string_view head = out.head;
  for (;;) {
    auto c = co_await stream->read();
    if (!c.ok()) {
      if (!head.empty()) {
        bool written = co_await writeAll(s, out.timeout, view(head));
        head = {};
        if (!written) co_return false;
      }
      log::info("tunnel stream ended early",
                {{"peer", out.peer}, {"reason", c.status().message()}});
      // A watch that loses its tunnel ends like one the API server closes: clients re-watch.
      if (out.chunked && out.end_cleanly_on_error) {
        co_await writeAll(s, out.timeout, view(net::kLastChunk));
      }
      co_return false;
    }
    size_t n = c->data.size();
    // The chunk framing around these bytes, and the last chunk when they end the body, share
    // the bytes' write.
    bool end_written = false;
    if (n > 0 || !head.empty()) {
      bool ok = true;
      if (out.chunked) {
        std::string before(head);
        std::string after;
        if (n > 0) {
          before += net::ChunkSizeLine(n).view();
          after = net::kChunkEnd;
        }
        if (c->end) {
          after += net::kLastChunk;
          end_written = true;
        }
        ok = co_await writeAll(s, out.timeout, asio::buffer(before), asio::buffer(c->data),
                               asio::buffer(after));
      } else if (!head.empty()) {
        ok = co_await writeAll(s, out.timeout, view(head), asio::buffer(c->data), {});
      } else if (out.frames != nullptr) {
        std::string_view rest(c->data);
        while (ok && !rest.empty()) {
          size_t part = out.frames->take(rest);
          ok = co_await writeAll(s, out.timeout, view(rest.substr(0, part)));
          rest.remove_prefix(part);
        }
      } else {
        ok = co_await writeAll(s, out.timeout, asio::buffer(c->data));
      }
      if (!ok) {
        if (out.reset_on_write_error) {
          stream->reset(proto::ResetCode::kCancel, std::string(out.peer) + " stopped reading");
        }
        co_return false;
      }
      head = {};
      stream->consumed(n);
      if (out.bytes != nullptr) *out.bytes += n;
    }
    if (c->end) {
      if (out.chunked && !end_written) {
        if (!co_await writeAll(s, out.timeout, view(net::kLastChunk))) co_return false;
      }
      co_return true;
    }
  }
}

asio::awaitable<boost::system::error_code> socketToStream(net::TlsStream* s,
                                                          beast::flat_buffer* leftover,
                                                          std::shared_ptr<Stream> stream,
                                                          ChunkBuffer* buffer) {
  if (leftover->size() > 0) {
    auto data = leftover->cdata();
    absl::Status st = co_await stream->write(
        std::string_view(static_cast<const char*>(data.data()), data.size()));
    leftover->consume(leftover->size());
    if (!st.ok()) co_return boost::system::error_code{};
  }
  char* chunk = buffer->get();
  for (;;) {
    auto [ec, n] = co_await readSomeNoDeadline(s, asio::buffer(chunk, buffer->size()));
    if (n > 0) {
      absl::Status st = co_await stream->write(std::string_view(chunk, n));
      if (!st.ok()) co_return boost::system::error_code{};
      if (n == buffer->size()) chunk = buffer->get(true);
    }
    if (ec) co_return ec;
  }
}

bool moreReadable(net::TlsStream& s, const beast::flat_buffer& buffer) {
  if (buffer.size() > 2) return true;
  if (s.bufferedInputBytes() > 0) return true;
  boost::system::error_code ec;
  size_t in_kernel = beast::get_lowest_layer(s).socket().available(ec);
  return !ec && in_kernel > 0;
}

template <bool isRequest>
asio::awaitable<bool> parsedBodyToStream(net::TlsStream* s, beast::flat_buffer* buffer,
                                         http::parser<isRequest, http::buffer_body>* parser,
                                         std::shared_ptr<Stream> stream, ChunkBuffer* chunk,
                                         PumpIn in) {
  auto& lowest = beast::get_lowest_layer(*s);
  auto send_head = [&in] {
    if (!in.send_head) return;
    auto send = std::move(in.send_head);
    in.send_head = nullptr;
    send();
  };
  char* buf = chunk->get();
  size_t filled = 0;
  while (!parser->is_done()) {
    if (in.send_head && !moreReadable(*s, *buffer)) send_head();
    // Beast reads at most the parse buffer's free space. Sized for the head (~1 KiB), it made a
    // streamed body go ~1 KiB per read, each a posted completion and a resumption of this
    // coroutine (~40 per 32 KiB chunk of a log, and as many passes of the event loop): room
    // for what the TLS layer already holds, up to kBodyReadBytes, before each read.
    if (size_t want = std::min(kBodyReadBytes, buffer->size() + s->bufferedInputBytes());
        want > buffer->capacity()) {
      buffer->reserve(want);
    }
    parser->get().body().data = buf + filled;
    parser->get().body().size = chunk->size() - filled;
    // Without a deadline, none inherited from a write running beside this read either (see
    // readSomeNoDeadline).
    if (in.timeout.count() > 0) {
      lowest.expires_after(in.timeout);
    } else {
      lowest.expires_never();
    }
    auto [ec, n] = co_await http::async_read_some(*s, *buffer, *parser, kUseTuple);
    if (in.timeout.count() > 0) lowest.expires_never();
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      stream->reset(in.reset_code, std::string(in.what) + ": " + ec.message());
      co_return false;
    }
    filled = chunk->size() - parser->get().body().size;
    // The parser hands over one HTTP chunk (often one TLS record) at a time, and API servers
    // write a chunk per log line or watch event: what has already arrived goes as one tunnel
    // frame, sent as soon as the next read would wait.
    bool full = filled == chunk->size();
    bool waits = !full && !parser->is_done() && !moreReadable(*s, *buffer);
    if (filled > 0 && (full || parser->is_done() || waits)) {
      send_head();
      absl::Status st = co_await stream->write(std::string_view(buf, filled));
      if (!st.ok()) co_return false;
      filled = 0;
      if (full) buf = chunk->get(true);
    }
    // Quiet now (a watch between events): the room grown for a burst goes back.
    if (waits && buffer->size() == 0 && buffer->capacity() > kQuietReadBytes) {
      buffer->shrink_to_fit();
    }
  }
  send_head();  // an empty chunked body
  stream->finish();
  // The connection may idle now (a keep-alive client, a pooled API server connection).
  if (buffer->size() == 0 && buffer->capacity() > kQuietReadBytes) buffer->shrink_to_fit();
  co_return true;
}

template asio::awaitable<bool> parsedBodyToStream<true>(net::TlsStream*, beast::flat_buffer*,
                                                        http::parser<true, http::buffer_body>*,
                                                        std::shared_ptr<Stream>, ChunkBuffer*,
                                                        PumpIn);
template asio::awaitable<bool> parsedBodyToStream<false>(net::TlsStream*, beast::flat_buffer*,
                                                         http::parser<false, http::buffer_body>*,
                                                         std::shared_ptr<Stream>, ChunkBuffer*,
                                                         PumpIn);

}  // namespace kubehub::tunnel
