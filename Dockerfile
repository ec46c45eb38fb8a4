# One image for the migrate, api, scheduler and worker services of docker-compose.yml, built from
# requirements/main.lock: the pinned set (with hashes) that CI tested, nothing resolved at build.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# Dependencies first, in their own layer: a code change does not reinstall them.
COPY requirements/main.lock requirements/main.lock
RUN pip install --require-hashes -r requirements/main.lock

COPY pyproject.toml README.md ./
COPY worker ./worker
COPY models ./models
RUN pip install --no-deps --no-build-isolation . \
    && useradd --create-home --uid 10001 --user-group followup

COPY sequences ./sequences
COPY templates ./templates
USER followup

# /readyz of the server this container runs: FOLLOWUP_METRICS_PORT (worker, scheduler), else
# the API's 8000. Compose sets the same check per service.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "worker.engine.probe"]

CMD ["followup", "--help"]
