# The api, tokenizer and scheduler services (Node only; no GPU).
# Build context: the repository root. Usage: see docker-compose.yml.
FROM node:20-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ cmake && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY apps ./apps
COPY libs ./libs
COPY e2e ./e2e
COPY tools ./tools
RUN npm ci --no-audit --no-fund
COPY . .
RUN npx nx run-many -t build --exclude @deepinfer/e2e,@deepinfer/tools

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app /app
# Each service's command is set in docker-compose.yml (node apps/<service>/dist/main.js).
USER node
