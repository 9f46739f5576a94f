// Fuzzes the hub cache's continue tokens and paging: input = 8 bytes of page limit (any value a
// client may send), then the continue token. A store of ten objects has handed out the token
// of a first page of three. No crash; a page that comes back holds at most `limit` objects, all
// from the snapshot, and a continue token only when objects remain.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "hub/cache/resource_store.h"

namespace {

using namespace kubehub::hub::cache;

ObjectPtr object(int i) {
  auto o = std::make_shared<CachedObject>();
  o->ns = "default";
  o->name = "o" + std::to_string(i);
  o->rv = 10 + static_cast<uint64_t>(i);
  o->json = "{\"metadata\":{}}";
  o->metadata_offset = 12;
  o->metadata_length = 2;
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < sizeof(uint64_t)) return 0;
  uint64_t limit = 0;
  std::memcpy(&limit, data, sizeof limit);
  std::string_view token(reinterpret_cast<const char*>(data) + sizeof limit, size - sizeof limit);

  constexpr size_t kObjects = 10;
  ResourceStore store(TypeInfo{"", "v1", "configmaps", "ConfigMap", true}, 100);
  std::vector<ObjectPtr> objects;
  for (size_t i = 0; i < kObjects; ++i) objects.push_back(object(static_cast<int>(i)));
  store.replace(std::move(objects), 20, "");
  auto first = store.list(Filter{}, 3, "");
  if (!first.ok() || first->items.size() != 3 || first->continue_token.empty()) std::abort();

  auto page = store.list(Filter{}, static_cast<size_t>(limit), token);
  if (!page.ok()) return 0;
  if (limit != 0 && page->items.size() > limit) std::abort();
  if (page->items.size() > kObjects) std::abort();
  for (const auto& o : page->items) {
    if (o == nullptr || o->rv < 10 || o->rv >= 10 + kObjects) std::abort();
  }
  if (page->continue_token.empty() != (page->remaining == 0)) std::abort();
  return 0;
}
