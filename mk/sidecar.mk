# Sidecar (issue 4): Apache Kafka jars for the real-broker tests (tests/harness/kafka.py).
# Idempotent: the stamp file is written only after every jar has been copied.

KAFKA_HOME := .local/kafka
KAFKA_STAMP := $(KAFKA_HOME)/jars/.complete

SETUP_TARGETS += setup-kafka setup-native

.PHONY: setup-kafka setup-native bench-sidecar

# The native assignment core (sidecar/native.py): the Go core built as a C shared library into the
# package, used by the sidecar when present. Needs Go and a C compiler (cgo); without Go, setup-native
# says so and the sidecar serves from the Python core (make test requires the library).
NATIVE_LIB := sidecar/_native/libsplitline.so
NATIVE_SRC := $(wildcard sdk_go/core/*.go sdk_go/cmd/libsplitline/*.go sdk_go/gen/splitline/v1/*.go) \
	sdk_go/go.mod sdk_go/go.sum

$(NATIVE_LIB): $(NATIVE_SRC)
	cd sdk_go && CGO_ENABLED=1 $(or $(GO),go) build -buildmode=c-shared -trimpath -o ../$(NATIVE_LIB) ./cmd/libsplitline
	rm -f $(basename $(NATIVE_LIB)).h

setup-native:
	@if command -v $(or $(GO),go) >/dev/null; then $(MAKE) --no-print-directory $(NATIVE_LIB); \
	else echo "setup-native: no Go toolchain; the sidecar will use the Python core"; fi

test-python test-fast demo: setup-native

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
