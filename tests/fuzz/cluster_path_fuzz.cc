// Fuzzes the users' target parser: no crash, and an accepted target never contains a dot
// segment, a double slash or an encoded slash in what is sent upstream.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/k8s/cluster_path.h"
#include "common/k8s/query.h"
#include "common/k8s/validation.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto t = kubehub::k8s::parseClusterTarget(in);
  if (!t.ok()) return 0;
  if (!kubehub::k8s::isDnsLabel(t->cluster)) std::abort();
  const std::string& p = t->path;
  if (p.empty() || p[0] != '/' || p.find("//") != std::string::npos ||
      p.find("/../") != std::string::npos || p.ends_with("/..") ||
      p.find("%2f") != std::string::npos || p.find("%2F") != std::string::npos) {
    std::abort();
  }
  (void)kubehub::k8s::queryParam(t->query, "watch");
  return 0;
}
