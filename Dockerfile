# syntax=docker/dockerfile:1
# One image for every service: the container command chooses which one runs
#   python -m services.<name> migrate | serve
# so a release is built, scanned and signed once. `--build-arg SERVICE=assessment` instead builds a
# slimmer image holding only that service, whose default command serves it.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: resolve the locked dependencies into /app/.venv -----------------------------------
FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
ENV UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python
WORKDIR /app
COPY pyproject.toml uv.lock ./
# Exactly the lock, without the test tools (dev) and without the embedded NATS/PostgreSQL binaries
# (local): in a container those servers are separate containers or managed clusters.
RUN uv sync --frozen --no-dev --no-group local

# ---- runtime ----------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE=""
# A fixed numeric uid/gid so Kubernetes can verify runAsNonRoot without a name lookup.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BW_SERVICE=${SERVICE}
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY libs/ ./libs/
COPY services/__init__.py ./services/__init__.py
# With SERVICE empty this copies every service; with SERVICE=x only services/x.
COPY services/${SERVICE} ./services/${SERVICE}
# Bytecode is compiled at build time because the root filesystem is read-only at run time.
RUN python -m compileall -q libs services
USER 10001:10001
EXPOSE 8001 8002 8003 8004
# exec: python becomes PID 1 and receives SIGTERM directly for a graceful shutdown.
CMD ["sh", "-c", "exec python -m \"services.${BW_SERVICE:?give a command such as: python -m services.assessment serve}\" serve"]
