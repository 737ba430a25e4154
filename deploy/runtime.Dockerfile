# The site image's first half: the Python image's interpreter with the site's
# pinned packages in /opt/dockerlab, and nginx from Debian as the front.
# Built by scripts/deploy.sh with the wheels folder as its context
# (deploy/fetch-wheels.sh): pip installs from those wheels only, never from
# an index. It changes only with requirements.txt or the base image, so the
# app's half (deploy/site.Dockerfile) rebuilds in seconds.
ARG BASE=python:3.12-slim
FROM ${BASE}

RUN apt-get update \
 && apt-get install -y --no-install-recommends nginx \
 && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/default

COPY . /tmp/wheels/
RUN python3 -m venv /opt/dockerlab \
 && /opt/dockerlab/bin/pip install --disable-pip-version-check --no-cache-dir -q \
      --no-index --find-links /tmp/wheels -r /tmp/wheels/requirements.txt \
 && rm -rf /tmp/wheels

ENV PATH=/opt/dockerlab/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
