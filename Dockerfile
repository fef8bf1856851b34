# Build: docker build -t gateway-queue .
# Run:   docker run -p 5000:5000 -v gq-data:/data -e DISCORD_TOKEN=... gateway-queue
FROM debian:12 AS build
WORKDIR /src
COPY scripts/setup.sh scripts/setup.sh
RUN ./scripts/setup.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DGQ_BUILD_TESTS=OFF -DGQ_BUILD_BENCH=OFF \
 && cmake --build build -j"$(nproc)" --target gateway-queue

FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libcaf-core0.17 libcaf-io0.17 libcpp-httplib0.11 libhttp-parser2.9 \
      libsqlite3-0 libpq5 libspdlog1.10 libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /data gateway-queue \
 && mkdir -p /data && chown gateway-queue /data
COPY --from=build /src/build/gateway-queue /usr/local/bin/gateway-queue
USER gateway-queue
WORKDIR /data
ENV HOST=0.0.0.0 PORT=5000 QUEUE_DB=/data/gateway-queue.db
EXPOSE 5000
# The binary probes itself: the slim image has no curl, and its /bin/sh (dash) has no /dev/tcp.
# `probe` reads the same HOST and PORT (HOST=0.0.0.0 is probed on 127.0.0.1).
HEALTHCHECK --interval=30s --timeout=3s CMD ["/usr/local/bin/gateway-queue", "probe", "--timeout-ms", "2000"]
ENTRYPOINT ["/usr/local/bin/gateway-queue"]
