# syntax=docker/dockerfile:1
# content-jobs: one image for every role (`serve --role api|worker|all`, `migrate`, `prune`).
#
# A plain `docker build .` (or `buildah bud .`) of a clean checkout works: the builder stage
# installs the locked, hashed dependencies of uv.lock and builds the project's wheel from
# the source itself, so what runs is exactly what the tests ran and no `make wheel` comes
# first. `make image-test` builds it so and runs a job through it. BASE is any Debian-like
# image with Python 3.11+ and its venv module (where no registry can be reached,
# tests/image builds one with mmdebstrap).
ARG BASE=python:3.11.11-slim-bookworm

# --- builder: a venv at /app/venv with the locked dependencies and the wheel ------------
FROM ${BASE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /build
RUN python -m venv /app/venv && /app/venv/bin/pip install --quiet 'uv>=0.5'

# Dependencies first (their own layer: a code change reuses it). EXTRAS: optional extras
# to install as well, space-separated (`--build-arg EXTRAS="tracing s3"`).
ARG EXTRAS=""
COPY pyproject.toml uv.lock README.md ./
RUN /app/venv/bin/uv export --quiet --frozen --no-emit-project --format requirements-txt \
        $(for extra in $EXTRAS; do printf -- '--extra %s ' "$extra"; done) \
        -o requirements.txt \
    && /app/venv/bin/pip install --quiet --require-hashes -r requirements.txt \
    && /app/venv/bin/pip uninstall --quiet --yes uv

# The wheel, built here as `make wheel` builds it (migrations and queries inside), then
# installed without dependencies: they are all in the venv already, locked.
COPY sql ./sql
COPY service ./service
RUN /app/venv/bin/pip wheel --quiet --no-deps -w dist . \
    && /app/venv/bin/pip install --quiet --no-deps ./dist/content_jobs-*.whl \
    && /app/venv/bin/python -m compileall -q /app/venv

# --- runtime ----------------------------------------------------------------------------
FROM ${BASE}

ENV PATH="/app/venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LOG_FORMAT=json

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin app

COPY --from=builder /app/venv /app/venv
WORKDIR /tmp
# numeric, so Kubernetes' runAsNonRoot can check it without reading /etc/passwd
USER 10001:10001

EXPOSE 8080

# ask /healthz with the standard library (every role serves it; no curl in slim images)
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=2)"]

ENTRYPOINT ["content-jobs"]
CMD ["serve"]
