# Go SDK (issue 7, sdk_go/): `make setup-go` downloads the Go modules (from the
# module proxy), `make test-go` checks formatting and the generated protobuf
# code, vets, runs every test (the vectors file is read in place) and a short
# fuzz run of the evaluator. `make bench-go` prints the assignment benchmarks
# (-count 10, for benchstat). `make test-cross` runs the differential test
# against the TypeScript CLI once test-js has built it (test-python runs the
# Python/Go half of tests/cross already).

GO ?= go
GO_DIR := sdk_go
GO_FUZZTIME ?= 10s

SETUP_TARGETS += setup-go
TEST_TARGETS += test-go test-cross

.PHONY: setup-go test-go bench-go proto-go test-cross

setup-go:
	cd $(GO_DIR) && $(GO) mod download

test-go: setup-go setup-python
	@cd $(GO_DIR) && unformatted="$$(gofmt -l .)" && if [ -n "$$unformatted" ]; then \
		echo "gofmt needed on: $$unformatted"; exit 1; fi
	PY=$(abspath $(PY)) $(GO_DIR)/tools/gen_proto.sh --check
	cd $(GO_DIR) && $(GO) vet ./...
	cd $(GO_DIR) && $(GO) test -count=1 ./...
	cd $(GO_DIR) && $(GO) test -run '^$$' -fuzz '^FuzzAssign$$' -fuzztime $(GO_FUZZTIME) ./core/
	cd $(GO_DIR) && $(GO) test -run '^$$' -fuzz '^FuzzTranslateRegex$$' -fuzztime $(GO_FUZZTIME) ./core/

## Regenerate sdk_go/gen from proto/ (commit the result).
proto-go: setup-go setup-python
	PY=$(abspath $(PY)) $(GO_DIR)/tools/gen_proto.sh

bench-go: setup-go
	cd $(GO_DIR) && $(GO) test -run '^$$' -bench . -benchmem -count 10 ./core/

test-cross: setup-python setup-go $(if $(wildcard mk/js.mk),test-js)
	$(PYTEST) -q -p no:cacheprovider tests/cross -k typescript $(PYTEST_ARGS)
