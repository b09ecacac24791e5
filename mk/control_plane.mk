# Control plane (issue 3): a real etcd (Debian etcd-server 3.4) for the etcd-marked tests
# (tests/harness/etcd.py starts it on free loopback ports) and the propagation benchmark.
# Idempotent: installs only when no etcd binary is on the machine.

SETUP_TARGETS += setup-etcd

.PHONY: setup-etcd bench-control-plane control-plane

setup-etcd:
	@command -v etcd >/dev/null 2>&1 || test -x /usr/bin/etcd || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server)

## Pause -> WatchConfig receipt latency, 200 streams, embedded store and etcd.
bench-control-plane: setup-python setup-etcd
	$(PY) bench/propagation_bench.py

## Run the control plane on the embedded store (127.0.0.1:7400, dev token).
control-plane: setup-python
	$(VENV)/bin/splitline control-plane
