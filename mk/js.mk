# TypeScript SDK (sdk_js/): `make setup-js` installs its npm packages (npm ci),
# `make test-js` checks the generated protobuf code, typechecks, builds dist/
# (including the differential-test CLI dist/cli/eval.js) and runs vitest, which
# reads proto/testdata/assignment_vectors.json in place. `make bench-js` runs the
# benchmark (add SOCKET=/path/fast.sock to include the sidecar's fast path).

JS_DIR := sdk_js
JS_STAMP := $(JS_DIR)/node_modules/.splitline-installed

SETUP_TARGETS += setup-js
TEST_TARGETS += test-js

.PHONY: setup-js test-js bench-js proto-js

$(JS_STAMP): $(JS_DIR)/package.json $(JS_DIR)/package-lock.json
	cd $(JS_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $(JS_STAMP)

setup-js: $(JS_STAMP)

test-js: setup-js setup-python $(BUF)
	cd $(JS_DIR) && BUF=$(abspath $(BUF)) node scripts/gen_proto.mjs --check
	@# The typecheck (src and tests, incremental) and the build to dist/ run side by side.
	cd $(JS_DIR) && rm -rf dist && { node_modules/.bin/tsc --noEmit -p tsconfig.json & check=$$!; \
		node_modules/.bin/tsc -p tsconfig.build.json; built=$$?; wait $$check && test $$built -eq 0; }
	@# vitest, with a real `splitline sidecar` serving the vectors' main snapshot for the remote-mode test.
	@tmp=$$(mktemp -d) && \
	$(PY) -c 'import json, sys; json.dump(json.load(open(sys.argv[1]))["snapshots"]["main"], open(sys.argv[2], "w"))' \
		proto/testdata/assignment_vectors.json $$tmp/main.json && \
	{ $(VENV)/bin/splitline sidecar --snapshot $$tmp/main.json --socket $$tmp/grpc.sock \
		--fast-socket $$tmp/fast.sock --spool-dir $$tmp/spool > $$tmp/sidecar.log 2>&1 & pid=$$!; }; \
	for i in $$(seq 200); do test -S $$tmp/fast.sock && break; sleep 0.1; done; \
	(cd $(JS_DIR) && SPLITLINE_TEST_SIDECAR_FAST_SOCKET=$$tmp/fast.sock node_modules/.bin/vitest run); rc=$$?; \
	kill $$pid 2>/dev/null; wait $$pid 2>/dev/null; \
	if [ $$rc -ne 0 ]; then tail -20 $$tmp/sidecar.log; fi; rm -rf $$tmp; exit $$rc

## Regenerate sdk_js/src/gen from proto/ (commit the result).
proto-js: setup-js $(BUF)
	cd $(JS_DIR) && BUF=$(abspath $(BUF)) node scripts/gen_proto.mjs

bench-js: setup-js
	cd $(JS_DIR) && rm -rf dist && node_modules/.bin/tsc -p tsconfig.build.json
	cd $(JS_DIR) && node dist/bench/assign_bench.js $(if $(SOCKET),--socket $(SOCKET))
