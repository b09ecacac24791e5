# Sidecar (issue 4): Apache Kafka jars for the real-broker tests (tests/harness/kafka.py).
# Idempotent: the stamp file is written only after every jar has been copied.

KAFKA_HOME := .local/kafka
KAFKA_STAMP := $(KAFKA_HOME)/jars/.complete

SETUP_TARGETS += setup-kafka

.PHONY: setup-kafka bench-sidecar

$(KAFKA_STAMP): tools/kafka/pom.xml
	@command -v java >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless)
	@command -v mvn >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven)
	mvn -q -B -f tools/kafka/pom.xml dependency:copy-dependencies -DincludeScope=runtime \
		-DoutputDirectory=$(CURDIR)/$(KAFKA_HOME)/jars
	touch $@

setup-kafka: $(KAFKA_STAMP)

## Sidecar benchmarks (assignment doors, event shipping); they start their own broker.
bench-sidecar: setup-python setup-kafka
	$(PY) bench/sidecar_assign_bench.py
	$(PY) bench/sidecar_shipping_bench.py
