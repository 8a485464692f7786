# soundtrack-lake: workstation, cron and CI entry points. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

ROOT   := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV   ?= $(ROOT)/.venv
PY     := $(VENV)/bin/python
# make test spreads the test files over this many pytest-xdist workers (each its own local SparkSession; the 2 cores
# are busy with 2); 1 runs the suite serially.
TEST_WORKERS ?= 2
# make bench: the lake the throughput bench's sample run goes into (scratch, outside the default lake).
BENCH_LAKE ?= /tmp/soundtrack-lake-bench/lake
STAMP  := $(VENV)/.pins.sha256
export VENV

.PHONY: help setup sync dryrun run test test-fast report review evaluate clean log recommend publish cron-install bench runs pg-stop

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(STAMP): requirements_stable.txt rebuild_venv.sh
	@./rebuild_venv.sh

setup: $(STAMP) ## create .venv from requirements_stable.txt (only when the pins changed)

sync: ## workstation (and, with VM_HOST, the VM over ssh) on this commit and its pins; checks; logs/sync_log.md
	@./infrastructure/sync.sh

dryrun: setup ## preflight + resolve config, list steps with inputs/outputs, parse first records; fails as run would
	@./check_env.sh
	@$(PY) -m scripts_spark dryrun --local-postgres $(if $(FULL),--full) $(ARGS)

run: setup ## run the pipeline on the bundled sample (or INPUT_DIR), incremental when the lake has a state (FULL=1: full)
	@./run_pipeline_safe.sh --local-postgres $(if $(FULL),--full) $(ARGS)

test: setup ## run every test with coverage (fails under 85%); what CI runs
	@$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --cov=scripts_spark --cov-report=term-missing:skip-covered \
		--cov-fail-under=85 $(PYTEST_ARGS) tests

test-fast: setup ## unit tests only (no sample run, no PostgreSQL/Azurite/browser/CLI processes): about two minutes
	@$(PY) -m pytest -m "not slow and not integration" $(PYTEST_ARGS) tests

report: setup ## write the HTML report of the latest run (RUN_ID=... for another) and print its path
	@$(PY) -m scripts_spark report $(if $(RUN_ID),--run-id $(RUN_ID))

review: setup ## decide the latest run's review queue in a local web page (RUN_ID=..., PORT=8765; docs/review.md)
	@$(PY) -m scripts_spark review $(if $(RUN_ID),--run-id $(RUN_ID)) $(if $(PORT),--port $(PORT))

evaluate: setup ## precision/recall/F1 of the latest run against the dev labels, with the original rule side by side
	@$(PY) -m scripts_spark evaluate --rule original $(if $(RUN_ID),--run-id $(RUN_ID))

recommend: setup ## re-run the recommender step (07) on the latest run's Gold (PG_* in .env, or a local server)
	@$(PY) -m scripts_spark run --steps 07 --no-report --local-postgres --run-id $${RUN_ID:-latest}

runs: setup ## the lake's runs, newest first: status, start, duration, films, links, reviews
	@$(PY) -m scripts_spark runs $(ARGS)

pg-stop: ## stop the local PostgreSQL that `make run` started (its data stays until `make clean`)
	@if [ -x "$(PY)" ]; then $(PY) -m scripts_spark.local_postgres stop; fi

publish: setup ## upload the latest run's Gold to Azure storage (RUN_ID=..., LAYERS=gold,silver, DRY_RUN=1)
	@$(PY) -m scripts_spark publish --layers $${LAYERS:-gold} $(if $(RUN_ID),--run-id $(RUN_ID)) $(if $(DRY_RUN),--dry-run)

cron-install: ## install (idempotently) the nightly crontab entry that calls run_pipeline_safe.sh
	@./infrastructure/cron.sh install

log: ## readable summary of the last run's log (steps, notes, how it ended and why)
	@$(PY) -m scripts_spark.housekeeping log

clean: ## remove lake outputs and local caches (never data/sample)
	@if [ -x "$(PY)" ]; then $(PY) -m scripts_spark.housekeeping clean; else rm -rf "$(ROOT)/data/lake"; fi
	@if [ -x "$(PY)" ]; then $(PY) -m scripts_spark.local_postgres stop >/dev/null 2>&1 || true; fi
	rm -rf "$(ROOT)/data/local_pg"
	rm -rf "$(ROOT)/spark-warehouse" "$(ROOT)/metastore_db" "$(ROOT)/derby.log" "$(ROOT)/.pytest_cache" \
	       "$(ROOT)/htmlcov" "$(ROOT)/.coverage" "$(ROOT)/bench/_work"
	find "$(ROOT)/scripts_spark" "$(ROOT)/tests" "$(ROOT)/bench" -name __pycache__ -type d -prune -exec rm -rf {} +

bench: setup ## the quick benchmarks: match throughput on the sample (10+ min at 2M pairs), dump reader; BENCH_LAKE
	@$(PY) -m scripts_spark run --lake-root $(BENCH_LAKE) --run-id bench --steps 01-04 --no-report
	@$(PY) bench/match_throughput.py --lake-root $(BENCH_LAKE) --run-id bench
	@$(PY) bench/dump_reader.py
