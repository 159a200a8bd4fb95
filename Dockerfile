# Multi-stage build: a release binary on a slim Debian base with OpenSSL's runtime (josekit).
FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends pkg-config libssl-dev && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --locked --bin ferrid

FROM debian:bookworm-slim
# No curl: the health check is `ferrid probe`. A numeric user, so that Kubernetes'
# runAsNonRoot can verify it; the data folder exists so that a volume mounted there is ours.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 ferrid \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/ferrid --create-home ferrid \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/ferrid/data
COPY --from=build /src/target/release/ferrid /usr/local/bin/ferrid
USER 10001:10001
WORKDIR /var/lib/ferrid
ENV FERRID_BIND=0.0.0.0:8080 FERRID_DATA_DIR=/var/lib/ferrid/data FERRID_LOG_FORMAT=json
EXPOSE 8080
# SIGTERM drains in-flight requests for FERRID_SHUTDOWN_GRACE_SECS (30 s by default): give the
# container at least that long to stop (docker stop -t, stop_grace_period, terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=5 CMD ["ferrid", "probe"]
ENTRYPOINT ["ferrid"]
CMD ["serve"]
