# syntax=docker/dockerfile:1
# One image for every tickcast role: `docker run IMAGE train ...`, `... worker`, `... produce ...`.
# docker-compose.yml runs them together: `docker compose up --build`.
FROM python:3.11-slim

# torch goes in first, from the CPU index: `pip install .` then finds torch>=2.4 satisfied and
# never pulls the CUDA build (several GB). Another build: --build-arg TORCH_SPEC="torch==2.5.1".
ARG TORCH_SPEC="torch==2.13.0"
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" "${TORCH_SPEC}"

# Every dependency ships a wheel for CPython 3.11 on Linux, so no compiler is installed. The
# source is bind-mounted for this step only (writes are discarded): no copy of it, and no
# build/ or egg-info, stays in a layer. No dev extras.
RUN --mount=type=bind,target=/src,rw \
    cd /src && pip install --no-cache-dir .

# Non-root user with a writable state folder: the Yahoo cache, the producer's ledger, Faust's
# data folder (relative to the working directory) and, without MLFLOW_TRACKING_URI, the store.
RUN groupadd --system --gid 10001 tickcast \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin tickcast \
    && mkdir -p /data \
    && chown 10001:10001 /data

ENV TICKCAST_DATA__DIR=/data \
    HOME=/data \
    MPLCONFIGDIR=/data/.matplotlib

WORKDIR /data
# Numeric, so that runAsNonRoot-style checks can verify it; 10001 is the tickcast user.
USER 10001:10001

# For the worker: its Prometheus endpoint answers once the champion is loaded and the topics
# exist. The endpoint binds 127.0.0.1 inside the container, which is where this check runs.
# One-shot roles (train, produce) switch it off in docker-compose.yml.
HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/metrics' % os.environ.get('TICKCAST_KAFKA__METRICS_PORT', '9108'), timeout=4)"]

ENTRYPOINT ["tickcast"]
CMD ["--help"]
