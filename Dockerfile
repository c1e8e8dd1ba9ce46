# One image for every softcat role: `docker run softcat api|worker|scheduler|migrate|…`.

FROM rust:1.95-slim-bookworm AS build
# aws-lc-sys (rustls' crypto) builds C code.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin softcat

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin softcat
COPY --from=build /src/target/release/softcat /usr/local/bin/softcat
USER softcat
ENV SOFTCAT_API__LISTEN=0.0.0.0:8000 \
    SOFTCAT_CONFIG=/etc/softcat/softcat.toml
EXPOSE 8000 9101
ENTRYPOINT ["softcat"]
CMD ["api"]
