# The executor service: the native engine built against CUDA (sm_120 RTX 5090, sm_89 RTX 4090,
# sm_90 H100/H200, PTX for newer), on a CUDA devel image so the engine compiles in the image.
# CUDA >= 12.8 is needed for sm_120. Build context: the repository root.
FROM node:20-bookworm-slim AS node

FROM nvidia/cuda:12.8.1-devel-ubuntu24.04
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ cmake ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s /usr/local/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && ln -s /usr/local/lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY apps ./apps
COPY libs ./libs
COPY e2e ./e2e
COPY tools ./tools
RUN npm ci --no-audit --no-fund
COPY . .
ENV DEEPINFER_CUDA_ARCHITECTURES="89-real;90-real;120-real;120-virtual"
RUN npx nx run-many -t build --exclude @deepinfer/e2e,@deepinfer/tools
ENV NODE_ENV=production
CMD ["node", "apps/executor/dist/main.js"]
