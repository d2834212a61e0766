# One image for migrate, web, worker and beat (docker-compose.yml picks the command). The code belongs to root and
# the processes run as `portal` (uid 10001), so they cannot change it; compose also makes the root filesystem
# read-only (only /tmp is writable, a tmpfs).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

RUN groupadd --gid 10001 portal \
    && useradd --uid 10001 --gid portal --create-home --home-dir /home/portal --shell /usr/sbin/nologin portal

# The exact versions of requirements.lock first (a layer that changes only with the lock), then the portal itself
# without resolving again. The simulators (sfsim/, oidcsim/), their demo keys and the tests are not in the image.
COPY requirements.lock ./
RUN pip install -r requirements.lock
COPY pyproject.toml README.md ./
COPY portal ./portal
COPY clients ./clients
COPY orgs ./orgs
RUN pip install --no-deps .

COPY manage.py ./
COPY templates ./templates
COPY static ./static
# Hashed, compressed static files, served by WhiteNoise. No secrets are needed to collect them.
RUN DEBUG=true PORTAL_STATIC_MANIFEST=true PORTAL_RUN_DIR=/tmp/build python manage.py collectstatic --noinput
# The `orgportal` download (zipapp) and its shell completions, from clients/ (copied above), into /app/build/cli:
# /cli/orgportal serves them as they are and never builds while answering.
RUN DEBUG=true PORTAL_RUN_DIR=/tmp/build python manage.py build_cli

USER 10001:10001
EXPOSE 8000
CMD ["gunicorn", "--config", "portal/gunicorn_conf.py", "portal.wsgi"]
