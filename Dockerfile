# Untested here: this machine has no Docker engine. The stages run the same commands as `make`.
# The console speaks plain HTTP: run it behind a TLS proxy and set
# CONCUR_CONSOLE_PUBLIC_URL=https://your.host (and CONCUR_TRUSTED_PROXIES to the proxy's address);
# it warns at start when it is reachable without https.
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN scripts/install-tools.sh
RUN PATH="/src/end2end/node_modules/.bin:$PATH" cargo leptos build --release

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/concur-console concur-console \
    && mkdir -p /data && chown concur-console /data && chmod 0700 /data
COPY --from=build /src/target/release/concur-console /usr/local/bin/concur-console
COPY --from=build /src/target/site /usr/share/concur-console/site
USER concur-console
WORKDIR /data
ENV LEPTOS_SITE_ROOT=/usr/share/concur-console/site \
    LEPTOS_SITE_ADDR=0.0.0.0:3000 \
    DATABASE_URL=sqlite:///data/concur-console.db \
    RUST_LOG=info,sqlx=warn
VOLUME /data
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["concur-console", "check-ready"]
EXPOSE 3000
CMD ["concur-console", "serve"]
