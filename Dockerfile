# syntax=docker/dockerfile:1
# The agent image (ghcr.io/acme/agent). Two stages: the builder turns the pinned requirements
# and the agent package into wheels and installs them into a venv; the runtime copies only that
# venv onto a clean slim base (no compilers, no pip cache), runs as UID/GID 10001 and writes
# only to /tmp and /var/run/agent-metrics, so it works with a read-only root filesystem.
#
#   docker build --build-arg GIT_SHA=$(git rev-parse HEAD) \
#     --build-arg BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t ghcr.io/acme/agent:dev .

FROM python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91 AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /build
# Dependencies first, so this layer is cached until requirements.txt changes.
COPY apps/agent/requirements.txt apps/agent/requirements.txt
RUN python -m pip wheel --no-cache-dir --wheel-dir /wheels -r apps/agent/requirements.txt
COPY apps/agent/pyproject.toml apps/agent/pyproject.toml
COPY apps/agent/src apps/agent/src
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels ./apps/agent \
 && python -m venv /opt/venv \
 && /opt/venv/bin/python -m pip install --no-cache-dir --no-index --find-links /wheels \
      -r apps/agent/requirements.txt agent==0.1.0

FROM python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91 AS runtime

ARG VERSION=0.1.0
ARG GIT_SHA=unknown
ARG BUILD_DATE=unknown

LABEL org.opencontainers.image.title="agent" \
      org.opencontainers.image.description="AI agent HTTP service (Flask on gunicorn, Redis sessions, Prometheus metrics)" \
      org.opencontainers.image.source="https://github.com/acme/agent-gitops" \
      org.opencontainers.image.url="https://github.com/acme/agent-gitops/tree/main/apps/agent" \
      org.opencontainers.image.vendor="acme" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_SHA}" \
      org.opencontainers.image.created="${BUILD_DATE}" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim-bookworm"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8000 \
    PROMETHEUS_MULTIPROC_DIR=/var/run/agent-metrics \
    AGENT_VERSION=${VERSION} \
    AGENT_GIT_SHA=${GIT_SHA} \
    AGENT_BUILD_DATE=${BUILD_DATE}

RUN groupadd --system --gid 10001 agent \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin agent \
 && install -d -o 10001 -g 10001 -m 0700 /var/run/agent-metrics

COPY --from=builder /opt/venv /opt/venv

USER 10001:10001
WORKDIR /tmp
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=2)"]

ENTRYPOINT ["gunicorn", "--config", "python:agent.gunicorn_config"]
CMD ["agent.wsgi:app"]
