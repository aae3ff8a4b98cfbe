# syntax=docker/dockerfile:1
# The executor service: the native engine built against CUDA. Build context: the repository root
# (.dockerignore keeps node_modules, build outputs and .git out of it).
#   build   CUDA devel image: compiles the engine for sm_89 (RTX 4090), sm_90 (H100/H200), sm_120
#           (RTX 5090) and PTX for newer GPUs, and the TypeScript; then drops dev dependencies
#           and sources. CUDA >= 12.8 is needed for sm_120.
#   final   the matching CUDA runtime image (it has libcublas, which the engine dlopens; the
#           driver comes from the NVIDIA Container Toolkit) with Node and only what running
#           needs, as a non-root user.
# Build arguments, build time only (the image's DEEPINFER_* variables are settings, and the
# services exit 2 on one they do not know, so none of these may become an ENV of the final stage):
#   CUDA_VERSION                  CUDA of both stages (default 12.8.1)
#   DEEPINFER_CUDA_ARCHITECTURES  CMake CUDA targets, e.g. "120-real" for an RTX 5090-only image
#   JOBS                          parallel compile jobs (default: all cores)
# e2e/src/container-path.e2e.spec.ts runs this image's final stage (ENV, WORKDIR, CMD) as local
# processes, and tools/src/dockerfiles.spec.ts checks its shape and payload.
ARG CUDA_VERSION=12.8.1

FROM node:20-bookworm-slim AS node

# Only the package manifests, so the `npm ci` layer below is rebuilt only when they change.
FROM node AS manifests
WORKDIR /src
COPY . .
RUN mkdir /manifests \
 && find . -name node_modules -prune -o -type f \( -name package.json -o -name package-lock.json -o -name .npmrc \) -exec cp --parents {} /manifests/ \;

FROM nvidia/cuda:${CUDA_VERSION}-devel-ubuntu24.04 AS build
ARG DEEPINFER_CUDA_ARCHITECTURES="89-real;90-real;120-real;120-virtual"
ARG JOBS
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ cmake ca-certificates && rm -rf /var/lib/apt/lists/*
# Node with its headers: native/scripts/build-binding.sh builds the addon against
# /usr/local/include/node, offline.
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/include/node /usr/local/include/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s /usr/local/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && ln -s /usr/local/lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
WORKDIR /app
COPY --from=manifests /manifests/ ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY . .
# DEEPINFER_CUDA_ARCHITECTURES reaches native/scripts/build.sh and CMake as a build argument.
RUN NX_DAEMON=false NX_NO_CLOUD=true npx nx run @deepinfer/app-executor:build --output-style=stream
# Running needs no dev dependency (the addon is a plain .node file that libs/engine loads by
# path) and, of each project, only package.json and dist/ (node_modules/@deepinfer/* link there).
RUN npm prune --omit=dev --no-audit --no-fund \
 && find apps libs -mindepth 2 -maxdepth 2 ! -name dist ! -name package.json -exec rm -rf {} +

FROM nvidia/cuda:${CUDA_VERSION}-runtime-ubuntu24.04
COPY --from=node /usr/local/bin/node /usr/local/bin/node
# uid 1000 like the node image's user (the base image's own uid-1000 user `ubuntu` is removed),
# so that both can write the shared Hugging Face cache volume (/hf-cache, HF_HOME in compose).
RUN (userdel --remove ubuntu 2>/dev/null || true) \
 && useradd --user-group --uid 1000 --create-home --home-dir /home/deepinfer --shell /usr/sbin/nologin deepinfer \
 && install -d -o deepinfer -g deepinfer /hf-cache
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and read-only to the service user. The addon links the CUDA runtime statically
# and dlopens libcuda (driver) and libcublas (this image) at run time.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/libs ./libs
COPY --from=build /app/apps/executor ./apps/executor
COPY --from=build /app/native/package.json ./native/
COPY --from=build /app/native/binding/build/Release/deepinfer_native.node ./native/binding/build/Release/
COPY configs ./configs
COPY models ./models
COPY docker/healthcheck.mjs ./docker/
USER deepinfer
# Loading a large model takes a while; compose's healthcheck (the same script) overrides this.
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=30 CMD ["node", "docker/healthcheck.mjs", "executor"]
CMD ["node", "apps/executor/dist/main.js"]
