# etcd from Debian's package (the version the tests run against), configured by ETCD_* variables.
FROM debian:bookworm-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends etcd-server \
    && rm -rf /var/lib/apt/lists/*
EXPOSE 2379 2380
CMD ["etcd"]
