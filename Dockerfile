# mwi-runner image: Node 24 LTS, production dependencies only, source run natively (type stripping).
FROM node:24-bookworm-slim
# A larger young generation: the sender allocates per message and spends ~20% in scavenges otherwise.
# A set old-space limit: with none, V8 sizes the heap from the machine's memory (4.2 GB on a 24 GB
# machine) and, at that size, lets the old generation grow to 4x what survived its last full GC
# before collecting again; below its default maximum the factor is 1.3-2 (V8 heap-controller.cc,
# MaxGrowingFactor). The chaos suite's flood of junk SIP grew RSS by 276-326 MB without this limit
# and by 136 MB with it, all collectable garbage.
ENV NODE_OPTIONS="--max-semi-space-size=32 --max-old-space-size=1024"
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
