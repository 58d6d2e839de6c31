# One image for every tier: `natter repo`, `natter logic`, `natter comet`, or `natter` alone.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin natter

FROM debian:bookworm-slim
# The folders exist in the image, owned by natter, so named volumes mounted on them start out
# writable by the natter user (Docker copies ownership into a new volume).
RUN useradd --system --home /var/lib/natter natter \
 && mkdir -p /var/lib/natter/data /var/lib/natter/keys \
 && chown -R natter /var/lib/natter
COPY --from=build /src/target/release/natter /usr/local/bin/natter
USER natter
WORKDIR /var/lib/natter
ENV NATTER_DATA_DIR=/var/lib/natter/data
EXPOSE 8080 50051 50052
ENTRYPOINT ["natter"]
