# The README's two set-up commands are `make demo` and `make test`; both install what they need.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
PY := $(VENV)/bin/python
SAM := $(SAM_VENV)/bin/sam
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: help test lint template unit demo demo-stack bench soak clean events

help:  ## what each target does
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 14

$(VENV)/.installed: requirements-dev.txt layers/connectors/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet -r requirements-sam.txt
	touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet -r requirements-checkov.txt
	touch $@

lint: $(VENV)/.installed  ## ruff check and format, mypy over the layer
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

template: $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed  ## cfn-lint, checkov, sam validate --lint, sam build
	$(VENV)/bin/cfn-lint template.yaml
	# A security scan: any new finding fails; each accepted one is skipped in the template, with why.
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --quiet --compact --skip-download
	$(SAM) validate --lint --region $(AWS_DEFAULT_REGION)
	$(SAM) build --region $(AWS_DEFAULT_REGION)

unit: $(VENV)/.installed  ## pytest only
	$(PY) -m pytest

# Everything CI checks: lint (ruff, mypy), template checks (checkov included) and a real `sam build`, then the
# whole test suite.
test: lint template unit  ## everything CI runs: lint, template, unit


clean:  ## remove build and cache folders
	rm -rf .aws-sam .pytest_cache .ruff_cache .hypothesis

# The main job, locally: sandbox vendors, moto, the template's API and queues; one deletion.
demo: $(VENV)/.installed  ## the main job locally: one deletion through the whole stack
	$(PY) -m tools.demo

# The same, then the stack keeps running on 127.0.0.1:3000 for curl until Ctrl-C.
demo-stack: $(VENV)/.installed  ## the demo, then the stack keeps serving on 127.0.0.1:3000
	$(PY) -m tools.demo --serve

# One Lambda event a function and event source of template.yaml, for `sam local invoke -e` and the
# local runner; tests/tools/test_sam_local_event_files.py fails until they are regenerated.
events: $(VENV)/.installed  ## regenerate events/<function>-<trigger>.json from template.yaml
	$(PY) -m tools.sam_local generate-event --all -b events/requests/jane.json -o events

# Figures (throughput, bulk intake time) printed, never asserted.
bench: $(VENV)/.installed  ## figures with their targets (never asserted)
	$(PY) -m tools.bench

# The fault suite with 200 people and the hostile-input suite with 1,000 examples a handler;
# prints the figures (false receipts, lost identifiers, re-sends, escaped exceptions). Not 500
# people: moto, in this process, then grows past 9 GB.
soak: $(VENV)/.installed  ## the fault and hostile-input suites at size
	SOAK_PEOPLE=200 HOSTILE_EXAMPLES=1000 $(PY) -m pytest -q -p no:cacheprovider \
		tests/functions/test_faults.py tests/functions/test_hostile_input.py
