#pragma once
/// The JSON type of stored objects. Insertion-ordered so objects print with apiVersion, kind,
/// metadata, spec, status first, the way the real API server writes them.

#include <nlohmann/json.hpp>

namespace kubehub::standin {

using Json = nlohmann::ordered_json;

/// Serialises without throwing on invalid UTF-8 (replaced), compact.
inline std::string dumpJson(const Json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace kubehub::standin
