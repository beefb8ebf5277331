# smarthost container image. Build stage: compile better-sqlite3 (native) and the TypeScript with the
# full toolchain; runtime stage: Node.js, the compiled code and production dependencies only, run as
# the unprivileged `node` user (uid 1000). The spool lives on the /var/lib/smarthost volume; the
# configuration is a mounted file (/etc/smarthost/smarthost.yaml) with the certificate and DKIM keys
# it names. See README.md ("Running in a container").
FROM node:24-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY package.json package-lock.json ./
# better-sqlite3 is compiled here against this Node's headers (from its bundled SQLite), and only the
# compiled addon is kept, not the sources.
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && cd node_modules/better-sqlite3 \
 && npm run build-release \
 && mv build/Release/better_sqlite3.node /tmp/ \
 && rm -rf build deps src \
 && mkdir -p build/Release \
 && mv /tmp/better_sqlite3.node build/Release/
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    SMARTHOST_CONFIG=/etc/smarthost/smarthost.yaml
WORKDIR /opt/smarthost
COPY --from=build /build/package.json ./
COPY --from=build /build/node_modules ./node_modules
COPY --from=build /build/dist ./dist
COPY bin ./bin
COPY config/smarthost.example.yaml ./config/
RUN ln -s /opt/smarthost/bin/smarthost.js /usr/local/bin/smarthost \
 && mkdir -p /etc/smarthost /var/lib/smarthost \
 && chown node:node /var/lib/smarthost \
 && chmod 0750 /var/lib/smarthost
USER node
VOLUME ["/var/lib/smarthost"]
EXPOSE 587 465
# `smarthost healthcheck` asks /healthz wherever metrics.listen put it (the daemon records the
# address in the spool): healthy only when the spool takes a write and the listeners are bound.
HEALTHCHECK --interval=30s --timeout=10s --start-period=15s --retries=3 CMD ["smarthost", "healthcheck"]
# SIGTERM (docker stop) drains: open SMTP transactions finish, then the daemon exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["smarthost"]
CMD ["serve"]
