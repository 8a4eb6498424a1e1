# syntax=docker/dockerfile:1.7
#
# The `vision` image: one binary for every process of the platform (`vision serve`, `vision api`,
# `vision worker extractor`, `vision worker classifier --model fast|balanced|accurate`,
# `vision worker recorder`), the shipped models (models/) and the built dashboard (frontend/dist).
#
#   docker build -t vision:latest .                              # tract runtime (pure Rust)
#   docker build -t vision:latest --build-arg WITH_ORT=true .    # + ONNX Runtime (VISION_RUNTIME=ort)
#
# Needs BuildKit (the default builder of Docker >= 23): cache mounts and the conditional ORT stage.
# deploy/docker-compose.yml builds it as `vision:latest`; deploy/README.md tells the rest.

ARG RUST_VERSION=1.91
ARG NODE_VERSION=20
ARG DEBIAN_RELEASE=bookworm
# true: copy ONNX Runtime's shared library (from the PyPI wheel pinned in
# models/build/requirements.txt) into the image, for VISION_RUNTIME=ort.
ARG WITH_ORT=false

# ---------------------------------------------------------------------------------------------
# Dashboard: frontend/ -> frontend/dist
FROM node:${NODE_VERSION}-${DEBIAN_RELEASE}-slim AS frontend
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build && test -f dist/index.html

# ---------------------------------------------------------------------------------------------
# The `vision` binary. Only the Cargo workspace is copied, so that editing the dashboard, the
# models or deploy/ does not rebuild Rust. A new workspace member outside api/, bench/,
# migrations/ and workers/ needs its own COPY line here.
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
# Debian's stable packages are not pinned (security updates land without a Dockerfile change).
# The image already has gcc/g++, make, pkg-config, libssl-dev and zlib; cmake is for -sys crates
# that build vendored C libraries with it (librdkafka through rdkafka's cmake-build feature).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
ENV CARGO_TARGET_DIR=/src/target \
    CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0
COPY Cargo.toml Cargo.lock ./
COPY api/ api/
COPY bench/ bench/
COPY migrations/ migrations/
COPY workers/ workers/
# The cache mounts keep the registry and the target directory between builds; the binary is
# copied out of the (unpersisted) cache mount into /out.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p vision-api --bin vision \
    && install -D -m 0755 /src/target/release/vision /out/vision

# ---------------------------------------------------------------------------------------------
# Optional ONNX Runtime: the pinned wheel is installed in a throw-away venv and only its shared
# library is kept. BuildKit builds this stage only when WITH_ORT=true.
FROM python:3.11-slim-${DEBIAN_RELEASE} AS ort-true
WORKDIR /opt/onnxruntime
COPY models/build/requirements.txt /tmp/requirements.txt
RUN set -eux; \
    version="$(sed -n 's/^onnxruntime==\([0-9][0-9A-Za-z.]*\).*/\1/p' /tmp/requirements.txt)"; \
    test -n "$version"; \
    python -m venv /tmp/venv; \
    /tmp/venv/bin/pip install --no-cache-dir --no-deps "onnxruntime==${version}"; \
    cp -a /tmp/venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime*.so* .; \
    for lib in libonnxruntime.so.*; do ln -sf "$lib" libonnxruntime.so; done; \
    test -e libonnxruntime.so; \
    rm -rf /tmp/venv

FROM debian:${DEBIAN_RELEASE}-slim AS ort-false
RUN mkdir -p /opt/onnxruntime

# hadolint ignore=DL3006
FROM ort-${WITH_ORT} AS ort

# ---------------------------------------------------------------------------------------------
# Runtime: Debian slim, CA certificates (TLS to S3/Kafka/PostgreSQL), a non-root user.
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 vision \
    && useradd --system --uid 10001 --gid vision --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin vision \
    && mkdir -p /app /var/lib/vision \
    && chown vision:vision /var/lib/vision
WORKDIR /app
COPY --from=ort /opt/onnxruntime/ /opt/onnxruntime/
COPY --chmod=0755 deploy/docker/vision-probe.sh /usr/local/bin/vision-probe
COPY models/ /app/models/
COPY --from=frontend /src/frontend/dist/ /app/frontend/dist/
COPY --from=build /out/vision /usr/local/bin/vision

# Every process listens on VISION_ADDR; the rest of the configuration (KAFKA_BROKERS,
# DATABASE_URL, S3_*, REDIS_URL, ...) comes from the deployment (deploy/).
# VISION_DATA_DIR is the only folder the processes write to (the embedded defaults of `serve`).
# ORT_DYLIB_PATH is used only with VISION_RUNTIME=ort, and exists only in a WITH_ORT=true image.
ENV VISION_ADDR=0.0.0.0:8080 \
    VISION_MODELS_DIR=/app/models \
    VISION_FRONTEND_DIR=/app/frontend/dist \
    VISION_DATA_DIR=/var/lib/vision \
    ORT_DYLIB_PATH=/opt/onnxruntime/libonnxruntime.so \
    RUST_LOG=info

USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=3 \
    CMD ["vision-probe", "/ready"]
ENTRYPOINT ["vision"]
CMD ["serve"]
