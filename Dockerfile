# syntax=docker/dockerfile:1
# content-jobs: one image for every role (`serve --role api|worker|all`, `migrate`, `token`).

# --- builder: a venv at /app/.venv with the project installed editable ------------------
# Editable, because service/queries.py and service/migrations.py find sql/ next to the
# source tree; the runtime stage copies /app to the same path, so the install stays valid.
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /app
RUN python -m venv /app/.venv

# Dependencies first, against empty packages, so editing the code reuses this layer.
COPY pyproject.toml README.md ./
RUN mkdir service && touch service/__init__.py \
    && /app/.venv/bin/pip install -e .

COPY sql ./sql
COPY service ./service
# Compiled here: at runtime /app belongs to root and the service may not write to it.
RUN /app/.venv/bin/python -m compileall -q /app/service

# --- runtime ------------------------------------------------------------------------
FROM python:3.11-slim

ENV PATH="/app/.venv/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LOG_FORMAT=json

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin app

WORKDIR /app
COPY --from=builder /app /app
USER app:app

EXPOSE 8080

# slim has no curl: ask /healthz with the standard library (every role serves it).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=2)"]

ENTRYPOINT ["content-jobs"]
CMD ["serve"]
