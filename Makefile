# dockerlab: `make run` serves the site, `make test` runs the whole suite.
# Both install what is missing first (Debian packages, the Python venv, the
# Docker engine, the lesson images, the classroom swarm), so each works on a
# fresh machine.

PYTHON ?= python3
PORT ?= 8000
HOST ?= 127.0.0.1
WORKERS ?= 3
VENV := .venv
PY := $(VENV)/bin/python
PIP_FLAGS ?= -q

.PHONY: run test test-unit test-integration test-browser bench engine kit kit-check swarm swarm-check swarm-down system venv dev-venv migrate clean system-browser
.PHONY: run-multi system-multi stores stores-down deploy deploy-down test-deploy bench-fanout

run: system engine venv kit swarm migrate
	@echo "==> serving dockerlab on http://$(HOST):$(PORT)/"
	$(PY) manage.py collectstatic --noinput -v 0
	scripts/serve.sh $(HOST) $(PORT)

test: system-browser engine dev-venv kit swarm
	$(VENV)/bin/pytest

test-unit: dev-venv
	$(VENV)/bin/pytest tests/unit

test-integration: system engine dev-venv kit swarm
	$(VENV)/bin/pytest tests/integration

test-browser: system-browser engine dev-venv kit
	$(VENV)/bin/pytest tests/browser

bench: system engine dev-venv kit
	$(PY) bench/run.py
	$(PY) bench/fanout.py
	$(PY) bench/abuse.py
	$(PY) bench/classroom.py

# Several server processes behind nginx, sharing PostgreSQL and Redis of our
# own (README: Several processes): `make run-multi WORKERS=4 PORT=9000`.
run-multi: system-multi engine venv kit
	scripts/run-multi.sh $(HOST) $(PORT) $(WORKERS)

stores: system-multi
	@scripts/stores.sh up

stores-down:
	@scripts/stores.sh down

# The site for a class with docker-compose.yml (README: Deploying for a class).
# `make deploy-down VOLUMES=1` removes the data (accounts, sessions) too.
deploy: system engine venv
	scripts/deploy.sh up

deploy-down:
	scripts/deploy.sh down $(if $(VOLUMES),--volumes)

# The tests of several processes (real PostgreSQL, Redis, nginx) and of the
# compose deployment run in the integration tier; bench/fanout.py needs them too.
test test-integration bench: system-multi

test-deploy: system-multi engine dev-venv kit
	$(VENV)/bin/pytest tests/integration/test_deployment.py tests/integration/test_multiprocess.py

bench-fanout: system-multi engine dev-venv kit
	$(PY) bench/fanout.py

system:
	@scripts/system-deps.sh

system-multi:
	@scripts/system-deps.sh --multi

system-browser:
	@scripts/system-deps.sh --browser

engine: system
	@scripts/engine-up.sh

kit: venv engine
	$(PY) manage.py kit

kit-check: venv
	$(PY) manage.py kit --check

# The classroom swarm (nothing to do with DOCKERLAB_SWARM=0, or with
# DOCKERLAB_SWARM_MANAGER_URL naming an existing swarm: then it is only checked).
swarm: kit
	$(PY) manage.py swarm up

swarm-check: venv
	$(PY) manage.py swarm status

swarm-down: venv
	$(PY) manage.py swarm down

migrate: venv
	$(PY) manage.py migrate --noinput -v 0

# The venv is rebuilt only when a requirements file changed.
venv: $(VENV)/.runtime-stamp
dev-venv: $(VENV)/.dev-stamp

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime-stamp: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install $(PIP_FLAGS) --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev-stamp: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install $(PIP_FLAGS) --disable-pip-version-check -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-stamp

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
