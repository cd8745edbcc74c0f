# dynarock: multi-stage release build; the image is `FROM scratch` with the binary, the C and C++
# runtime libraries it loads, /data and /tmp (docker/rootfs.sh assembles them), about 27 MB.
FROM rust:1.88-bookworm AS build
# bindgen (for the bundled RocksDB) needs libclang.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends clang libclang-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked --bin dynarock
COPY docker/rootfs.sh /usr/local/bin/rootfs.sh
RUN rootfs.sh target/release/dynarock /rootfs

FROM scratch
COPY --from=build /rootfs /
# Every serve option also reads a DYNAROCK_* variable (DYNAROCK_PORT, DYNAROCK_CREDENTIALS, ...).
ENV DYNAROCK_HOST=0.0.0.0 \
    DYNAROCK_DATA_DIR=/data
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
# SIGTERM makes the server finish its requests, flush and stop; acknowledged writes are kept.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s CMD ["/usr/local/bin/dynarock", "ready"]
ENTRYPOINT ["/usr/local/bin/dynarock"]
CMD ["serve"]
