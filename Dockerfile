# mwi-runner image: Node 24 LTS, production dependencies only, source run natively (type stripping).
FROM node:24-bookworm-slim
# A larger young generation: the sender allocates per message and spends ~20% in scavenges otherwise.
ENV NODE_OPTIONS=--max-semi-space-size=32
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY src ./src
COPY config ./config
COPY workers ./workers
COPY jobs ./jobs
USER node
ENTRYPOINT ["node", "bin/mwi.ts"]
CMD ["--help"]
