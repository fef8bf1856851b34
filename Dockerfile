# Build: docker build --build-arg GQ_COMMIT="$(git rev-parse HEAD)" -t gateway-queue .
# Run:   docker run -p 5000:5000 -v gq-data:/data -v "$PWD/discord-token:/run/secrets/discord-token:ro" \
#          -e DISCORD_TOKEN_FILE=/run/secrets/discord-token gateway-queue
# (README.md, "Docker"; the secret file must be readable by uid 10001)
FROM debian:12 AS build
WORKDIR /src
COPY scripts/setup.sh scripts/setup.sh
RUN ./scripts/setup.sh && rm -rf /var/lib/apt/lists/*
COPY . .
# The build context leaves out .git, so the commit (and a release's version) is named here for
# --version and gateway_queue_build_info; without them the binary says "commit unknown".
ARG GQ_VERSION=""
ARG GQ_COMMIT=""
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DGQ_BUILD_TESTS=OFF -DGQ_BUILD_BENCH=OFF \
      -DGQ_BUILD_VERSION="${GQ_VERSION}" -DGQ_BUILD_COMMIT="${GQ_COMMIT}" \
 && cmake --build build -j"$(nproc)" --target gateway-queue

FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libcaf-core0.17 libcaf-io0.17 libcpp-httplib0.11 libhttp-parser2.9 \
      libsqlite3-0 libpq5 libspdlog1.10 libssl3 libtomlplusplus3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 gateway-queue \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /data --shell /usr/sbin/nologin \
      gateway-queue \
 && mkdir -p /data && chown gateway-queue:gateway-queue /data
COPY --from=build /src/build/gateway-queue /usr/local/bin/gateway-queue
# A fixed, numeric uid/gid (10001, as deploy/kubernetes runs it): secret files and host
# directories can be given to it, and Kubernetes' runAsNonRoot can check a numeric USER.
USER 10001:10001
WORKDIR /data
ENV HOST=0.0.0.0 PORT=5000 QUEUE_DB=/data/gateway-queue.db
EXPOSE 5000
# The binary probes itself: the slim image has no curl, and its /bin/sh (dash) has no /dev/tcp.
# `probe` reads the same HOST and PORT (HOST=0.0.0.0 is probed on 127.0.0.1).
HEALTHCHECK --interval=30s --timeout=3s CMD ["/usr/local/bin/gateway-queue", "probe", "--timeout-ms", "2000"]
ENTRYPOINT ["/usr/local/bin/gateway-queue"]
