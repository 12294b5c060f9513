# The two commands the README names, and a few helpers. Everything needs root.
.PHONY: test demo up down status images lint

test:  ## every test: lint, fast tests, and the tests on the real local cluster
	bash hack/test.sh

demo:  ## the main job: cluster up, operator installed, die_roller + yatzee played through the ingress
	bash hack/demo.sh

up:
	hack/cluster up

down:
	hack/cluster down

status:
	hack/cluster status

images:
	hack/cluster images

lint:
	bash hack/venv.sh && .venv/bin/ruff check . && .venv/bin/ruff format --check .
