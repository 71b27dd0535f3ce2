# syntax=docker/dockerfile:1
# ksmc-bot image: the bot and its dependencies in a virtualenv on python:3.11-slim, run as an
# unprivileged user. Build: docker build -t ksmc-bot:0.1.0 .
# The Helm chart (helm/ksmc-bot) runs it with a read-only root filesystem: only /tmp and /data
# (SQLite) are written.

ARG PYTHON_IMAGE=python:3.11-slim

# ---- builder: the locked dependencies, then the project, installed into /opt/venv ----------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# The dependencies exactly as locked, every file checked against its hash (scripts/lock.py);
# this layer is reused until the lock changes.
COPY requirements/runtime.txt ./requirements/
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --require-hashes -r requirements/runtime.txt
# Only what the project is built from (see .dockerignore), with the locked setuptools.
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY console ./console
COPY handlers ./handlers
COPY k8s ./k8s
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps --no-build-isolation . \
    && /opt/venv/bin/pip uninstall --yes pip setuptools

# ---- runtime: the virtualenv only ----------------------------------------------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="ksmc-bot" \
      org.opencontainers.image.description="Slack ChatOps for KubeSphere 3.x member-cluster migration" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    KSMC_HOST=0.0.0.0 \
    KSMC_PORT=3000
RUN groupadd --system --gid 10001 ksmc \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin ksmc \
    && mkdir -p /data \
    && chown 10001:10001 /data
COPY --from=builder /opt/venv /opt/venv
# The default database (sqlite:///ksmc.db) is relative: it lands in /data.
WORKDIR /data
USER 10001:10001
EXPOSE 3000
ENTRYPOINT ["ksmc-bot"]
CMD ["serve"]
