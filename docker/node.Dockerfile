# syntax=docker/dockerfile:1
# The api, tokenizer and scheduler services (Node only; no GPU), one image for the three.
# Build context: the repository root (.dockerignore keeps node_modules, build outputs and .git
# out of it). docker-compose.yml gives each service its command (node apps/<service>/dist/main.js);
# without one the image runs the api. e2e/src/container-path.e2e.spec.ts runs the final stage
# (ENV, WORKDIR, the compose commands) as local processes, and tools/src/dockerfiles.spec.ts
# checks its shape and payload.
FROM node:20-bookworm-slim AS base

# Only the package manifests, so the `npm ci` layer below is rebuilt only when they change.
FROM base AS manifests
WORKDIR /src
COPY . .
RUN mkdir /manifests \
 && find . -name node_modules -prune -o -type f \( -name package.json -o -name package-lock.json -o -name .npmrc \) -exec cp --parents {} /manifests/ \;

FROM base AS build
WORKDIR /app
COPY --from=manifests /manifests/ ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY . .
# None of the three depends on the native engine, so no compiler is needed here.
RUN NX_DAEMON=false NX_NO_CLOUD=true npx nx run-many -t build --projects=@deepinfer/app-api,@deepinfer/app-tokenizer,@deepinfer/app-scheduler --output-style=stream
# Running needs no dev dependency and, of each project, only package.json and dist/
# (node_modules/@deepinfer/* link there).
RUN npm prune --omit=dev --no-audit --no-fund \
 && find apps libs -mindepth 2 -maxdepth 2 ! -name dist ! -name package.json -exec rm -rf {} +

FROM base
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and read-only to the service user.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/libs ./libs
COPY --from=build /app/apps/api ./apps/api
COPY --from=build /app/apps/tokenizer ./apps/tokenizer
COPY --from=build /app/apps/scheduler ./apps/scheduler
COPY configs ./configs
COPY models ./models
COPY docker/healthcheck.mjs ./docker/
# The Hugging Face cache volume's mount point (compose: HF_HOME=/hf-cache), writable by the
# service user; a fresh named volume takes this directory's owner.
RUN install -d -o node -g node /hf-cache
# The node image's unprivileged user (uid 1000, as in the executor image).
USER node
# Checks the service this container runs (PID 1's command); compose gives each service its own.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=6 CMD ["node", "docker/healthcheck.mjs"]
CMD ["node", "apps/api/dist/main.js"]
