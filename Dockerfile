# The kubehub images, built from source with Docker, Podman or Buildah:
#
#   docker build --target hub -t kubehub/hub:0.1.0 --build-arg REVISION=$(git rev-parse HEAD) .
#   (likewise --target agent -t kubehub/agent:0.1.0, --target metaserver -t kubehub/metaserver:0.1.0)
#
# The three targets share the build stage, so the second and third reuse its compilation.
# Each runtime image is distroless-style, FROM scratch: the binary, the shared libraries it loads,
# the CA bundle, /etc/passwd with the user nonroot (65532), /tmp; no shell. scripts/images.py
# lays out that root filesystem, the same one `make images` puts in OCI archives offline.
# VERSION is the project version in CMakeLists.txt and the charts' appVersion (a test checks).
ARG VERSION=0.1.0
ARG REVISION=""

FROM debian:bookworm AS build
# The build dependencies of `make deps`, without the test tools; python3 runs scripts/images.py.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ cmake pkg-config ninja-build ccache ca-certificates python3 \
      libboost1.81-dev libssl-dev nlohmann-json3-dev libpq-dev prometheus-cpp-dev libabsl-dev \
      libspdlog-dev libyaml-cpp-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
ENV CCACHE_DIR=/ccache CCACHE_BASEDIR=/src
RUN --mount=type=cache,target=/ccache \
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DKUBEHUB_TESTS=OFF -DKUBEHUB_WERROR=OFF \
 && cmake --build build --target kubehub-hub kubehub-agent kubehub-metaserver kubehubctl
RUN python3 scripts/images.py --bin-dir build/bin --rootfs /rootfs

# What every image shares: the user, the environment, the labels.
FROM scratch AS runtime
ARG VERSION
ARG REVISION
ENV PATH=/usr/local/bin:/usr/bin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
LABEL org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

FROM runtime AS hub
COPY --from=build /rootfs/hub/ /
# COPY makes everything root's; nonroot's home is nonroot's.
COPY --from=build --chown=65532:65532 /rootfs/hub/home/ /home/
EXPOSE 8443 8444 9090
LABEL org.opencontainers.image.title="kubehub-hub" \
      org.opencontainers.image.description="kubehub hub: users' endpoint, agents' tunnels, cache"
ENTRYPOINT ["/usr/local/bin/kubehub-hub"]

FROM runtime AS agent
COPY --from=build /rootfs/agent/ /
COPY --from=build --chown=65532:65532 /rootfs/agent/home/ /home/
EXPOSE 9091
LABEL org.opencontainers.image.title="kubehub-agent" \
      org.opencontainers.image.description="kubehub agent: dials the hub from an edge cluster"
ENTRYPOINT ["/usr/local/bin/kubehub-agent"]

# kubehubctl is in this image too: kubectl exec deploy/kubehub-metaserver -- kubehubctl ...
FROM runtime AS metaserver
COPY --from=build /rootfs/metaserver/ /
COPY --from=build --chown=65532:65532 /rootfs/metaserver/home/ /home/
EXPOSE 8443 9090
LABEL org.opencontainers.image.title="kubehub-metaserver" \
      org.opencontainers.image.description="kubehub metaserver: tenants, grants, tokens, registry (and kubehubctl)"
ENTRYPOINT ["/usr/local/bin/kubehub-metaserver"]
