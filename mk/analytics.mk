# Analytics pipeline (issue 6): Spark runs on a JVM; pyspark itself comes with
# the `spark` extra (part of `all`, installed by setup-python). Kafka for the
# ingest test comes from mk/sidecar.mk's setup. Idempotent: installs a JRE only
# when no `java` is on the machine.

SETUP_TARGETS += setup-analytics

.PHONY: setup-analytics bench-pipeline test-analytics

setup-analytics:
	@command -v java >/dev/null 2>&1 || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless)

## Join + aggregation on DuckDB vs a raw scan (5M exposures, 100M outcomes by default; BENCH_ARGS to change).
BENCH_ARGS ?=
bench-pipeline: setup-python setup-analytics
	$(PY) bench/pipeline_bench.py $(BENCH_ARGS)

## The analytics tests alone (Spark and real Kafka included).
test-analytics: setup-python setup-analytics
	$(PYTEST) -q tests/analytics --ignore=tests/analytics/stats $(PYTEST_ARGS)
