# One image for the api, scheduler and worker services of docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY worker ./worker
COPY models ./models
RUN pip install . && useradd --create-home followup

COPY sequences ./sequences
COPY templates ./templates
USER followup

CMD ["followup", "--help"]
