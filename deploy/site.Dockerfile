# The dockerlab site for docker-compose.yml: the app on top of its runtime
# (deploy/runtime.Dockerfile), static files collected, served by
# scripts/serve-multi.sh (several server processes behind nginx).
# Built by scripts/deploy.sh with the repository as its context (.dockerignore).
ARG RUNTIME=dockerlab/site-runtime:latest
FROM ${RUNTIME}

WORKDIR /app
COPY . /app/

# collectstatic reads the settings, which want a secret key and a deployment
# id: throwaway ones for this step, kept out of the image.
RUN DOCKERLAB_SECRET_KEY=collectstatic DOCKERLAB_DEPLOYMENT=collectstatic \
    DOCKERLAB_VAR_DIR=/tmp/collectstatic python manage.py collectstatic --noinput -v 0 \
 && rm -rf /tmp/collectstatic

ENV DJANGO_SETTINGS_MODULE=dockerlab.settings \
    DOCKERLAB_VAR_DIR=/var/lib/dockerlab \
    DOCKERLAB_PYTHON=/opt/dockerlab/bin/python \
    DOCKERLAB_STATIC_ROOT=/app/staticfiles \
    DOCKERLAB_NGINX_DIR=/run/dockerlab-nginx
VOLUME /var/lib/dockerlab
ENTRYPOINT ["deploy/entrypoint.sh"]
