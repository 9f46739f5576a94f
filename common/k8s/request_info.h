#pragma once
/// What a Kubernetes API request asks for, derived the way kube-apiserver does it
/// (RequestInfoFactory): verb from method + path + `watch`, API group/version, resource,
/// subresource, namespace and name. Used for authorization, caching and audit. Pure.

#include <string>
#include <string_view>

namespace kubehub::k8s {

struct RequestInfo {
  bool is_resource_request = false;
  /// get, list, watch, create, update, patch, delete, deletecollection; for non-resource
  /// requests the lower-case HTTP method.
  std::string verb;
  std::string api_prefix;  // "api" or "apis"
  std::string api_group;   // "" for the core group
  std::string api_version;
  std::string namespace_;
  std::string resource;
  std::string subresource;
  std::string name;
  /// The path for non-resource requests (e.g. "/version").
  std::string path;
};

/// `path` without the query; `query` without '?'. Never fails: anything unrecognised is a
/// non-resource request.
RequestInfo parseRequestInfo(std::string_view method, std::string_view path,
                             std::string_view query);

/// What kube-apiserver treats as long-running, exempt from its request timeout: watches and the
/// attach, exec, log, portforward and proxy subresources. Their bodies may go quiet for as long as
/// they like; any other answer that stops mid-way is a dead server.
bool isLongRunning(const RequestInfo& info);

}  // namespace kubehub::k8s
