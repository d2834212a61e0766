# One image for web, worker and beat (docker-compose.yml picks the command).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

RUN useradd --system --create-home --home-dir /home/portal portal

COPY pyproject.toml README.md ./
COPY portal ./portal
COPY orgs ./orgs
COPY sfsim ./sfsim
RUN pip install .

COPY manage.py ./
COPY templates ./templates
COPY static ./static
# Hashed, compressed static files, served by WhiteNoise. No secrets are needed to collect them.
RUN DEBUG=true PORTAL_STATIC_MANIFEST=true PORTAL_RUN_DIR=/tmp/build python manage.py collectstatic --noinput

USER portal
EXPOSE 8000
CMD ["gunicorn", "--config", "portal/gunicorn_conf.py", "portal.wsgi"]
