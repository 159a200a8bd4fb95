# Multi-stage build: a release binary on a slim Debian base with OpenSSL's runtime (josekit).
FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends pkg-config libssl-dev && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --locked --bin ferrid

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/ferrid --create-home ferrid
COPY --from=build /src/target/release/ferrid /usr/local/bin/ferrid
USER ferrid
WORKDIR /var/lib/ferrid
ENV FERRID_BIND=0.0.0.0:8080 FERRID_DATA_DIR=/var/lib/ferrid/data
EXPOSE 8080
ENTRYPOINT ["ferrid"]
CMD ["serve"]
