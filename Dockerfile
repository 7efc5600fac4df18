# Elo's service image: `elo serve` as a non-root user, its database and logs on the /data volume.
#
#     docker build -t elo .           # or: docker compose up -d --build (compose.yaml)
#
# The install and start steps are the repo's own scripts, deploy/install.sh and deploy/start.sh,
# the same ones a bare machine uses; tests/deploy runs them in a fresh virtualenv and checks this
# file's structure, because images cannot be built on the project's machines (no image registry).
# Settings come from the environment (ELO_*, see .env.example): pass the keys at run time
# (compose's env_file), never in the image. See docs/deploy.md.

ARG PYTHON_IMAGE=python:3.12-slim

# --- build: a virtualenv at /opt/elo with Elo and its dependencies (wheels only, no compiler).
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHON=/usr/local/bin/python3
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY app/ app/
COPY campaign/ campaign/
COPY cli/ cli/
COPY config/ config/
COPY dashboard/ dashboard/
COPY demo/ demo/
COPY devtools/ devtools/
COPY messaging/ messaging/
COPY pipeline/ pipeline/
COPY scheduling/ scheduling/
COPY service/ service/
COPY storage/ storage/
COPY telemetry/ telemetry/
COPY tools/ tools/
COPY validation/ validation/
COPY deploy/ deploy/
RUN sh deploy/install.sh /opt/elo /src

# --- runtime: the same Python, the virtualenv, a user of its own.
FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 elo \
    && useradd --system --uid 10001 --gid elo --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin elo \
    && mkdir /data \
    && chown elo:elo /data \
    && chmod 0700 /data
COPY --from=build /opt/elo /opt/elo
# The database, its privacy key file and the logs live on the volume; 0.0.0.0 so the published
# port reaches the service (compose.yaml publishes it on 127.0.0.1 only, behind a proxy).
ENV PATH=/opt/elo/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ELO_DATABASE__PATH=/data/elo.db \
    ELO_LOGGING__FILE=/data/logs/elo.jsonl \
    ELO_SERVER__HOST=0.0.0.0 \
    ELO_SERVER__PORT=8080
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# SIGTERM stops dialling and lets calls finish (ELO_SERVER__DRAIN_SECS, 30 s by default): give
# the container longer than that to stop (compose: stop_grace_period 60s; docker stop -t 60).
STOPSIGNAL SIGTERM
# Liveness: /healthz answers while the event loop does. Slim images have no curl: Python's urllib.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('ELO_SERVER__PORT', '8080'), timeout=4)"]
ENTRYPOINT ["/opt/elo/bin/elo-start"]
CMD []
