# The console's image: one binary (it carries its site) on debian:bookworm-slim, run as a
# non-root user with its store and key in the /data volume.
#
#   docker build -t concur-console .        builds everything from source (needs BuildKit,
#                                           Docker's default builder, or podman/buildah)
#   make image                              puts the binary `make` built into the same final
#                                           stage (CONSOLE_FROM=prebuilt; see scripts/image.sh)
#
# The console speaks plain HTTP: run it behind a TLS proxy and set
# CONCUR_CONSOLE_PUBLIC_URL=https://your.host (and CONCUR_TRUSTED_PROXIES to the proxy's address);
# it warns at start when it is reachable without https.
ARG CONSOLE_FROM=build

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN scripts/install-tools.sh
RUN scripts/build.sh \
    && install -D target/release/concur-console /out/concur-console \
    && install -D -m 0644 /etc/ssl/certs/ca-certificates.crt /out/ca-certificates.crt

# A binary built outside: the build context is a folder holding only `concur-console` and the
# certificate authorities' bundle of the machine that built it.
FROM scratch AS prebuilt
COPY concur-console ca-certificates.crt /out/

FROM ${CONSOLE_FROM} AS console

# TLS is rustls: the final stage needs only the authorities' bundle, not OpenSSL or apt's layer.
FROM debian:bookworm-slim
RUN useradd --system --uid 999 --home-dir /data --no-create-home concur-console \
    && mkdir -p /data && chown concur-console /data && chmod 0700 /data
COPY --from=console /out/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=console /out/concur-console /usr/local/bin/concur-console
USER concur-console
WORKDIR /data
ENV LEPTOS_SITE_ADDR=0.0.0.0:3000 \
    DATABASE_URL=sqlite:///data/concur-console.db \
    RUST_LOG=info,sqlx=warn
VOLUME /data
# check-ready asks /readyz at the address LEPTOS_SITE_ADDR names (its loopback for 0.0.0.0).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["concur-console", "check-ready"]
EXPOSE 3000
STOPSIGNAL SIGTERM
CMD ["concur-console", "serve"]
