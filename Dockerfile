# dynarock: multi-stage release build; the runtime image holds only the binary.
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

FROM debian:bookworm-slim
# RocksDB is C++: the runtime needs libstdc++.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libstdc++6 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 dynarock \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --shell /usr/sbin/nologin dynarock \
 && mkdir -p /data \
 && chown dynarock:dynarock /data
COPY --from=build /src/target/release/dynarock /usr/local/bin/dynarock
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
ENTRYPOINT ["dynarock"]
CMD ["serve", "--host", "0.0.0.0", "--data-dir", "/data"]
