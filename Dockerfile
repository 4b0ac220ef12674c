# chainpost: the node and the web app in one image.
#
#   docker build -t chainpost .
#   docker run -p 8000:8000 chainpost                       # a node (the default command)
#   docker run -p 5000:5000 chainpost webapp --node URL     # the web app
#
# docker-compose.yml runs three nodes and the web app from it. Both binaries read their
# flags from the environment too (CHAINPOST_*, WEBAPP_*; see README.md).

# ---- build ----------------------------------------------------------------------------------
FROM rust:1-bookworm AS build
# Marks this stage's image (the classic builder keeps it) so old ones can be pruned.
LABEL chainpost.stage=build
WORKDIR /src
# .dockerignore lets in only what the build needs: the manifests, the lock file, the
# crates, templates/ (compiled into the web app) and static/.
COPY . .
RUN cargo build --release --locked -p node -p webapp \
 && install -D -m 0755 -t /out target/release/node target/release/webapp

# ---- runtime --------------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
LABEL chainpost.stage=runtime \
      org.opencontainers.image.title=chainpost \
      org.opencontainers.image.description="A chainpost node (default command) and web app (webapp)"
# curl is for health checks (`curl -f http://127.0.0.1:8000/status`) and for poking at a
# node from inside its container.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --user-group --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin chainpost \
 && mkdir -p /data \
 && chown chainpost:chainpost /data
COPY --from=build /out/ /usr/local/bin/
COPY static/ /app/static/
ENV CHAINPOST_HOST=0.0.0.0 \
    CHAINPOST_PORT=8000 \
    CHAINPOST_DATA_DIR=/data \
    WEBAPP_HOST=0.0.0.0 \
    WEBAPP_PORT=5000 \
    WEBAPP_STATIC_DIR=/app/static
WORKDIR /app
USER chainpost
# A node keeps its chain in /data: mount a volume there to keep it (`-v chainpost:/data`).
# 8000: a node's HTTP API; 5000: the web app.
EXPOSE 8000 5000
CMD ["node"]
