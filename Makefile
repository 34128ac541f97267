# The README's two commands are `make run` (the local experiment suite, verdicts printed) and
# `make test` (the harness's tests, including the real PostgreSQL experiments). Both install
# what they need first: Debian packages when root, then a virtualenv with pinned dependencies.
# Both need root (network namespaces and iptables).

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
# docker.io and debootstrap: the Docker tier (kind node faults on stand-in node containers, the
# image built offline) and the kind tier (a kind cluster from the node image fixtures/kind-node builds
# offline: gcc and libc6-dev compile its pause binary, jq edits OCI specs in its runc wrapper);
# openssl: the control-plane tier's certificates. The control plane and the kind node's binaries are
# built from source with Go (the machine's `go`, 1.26 or newer), cached in /var/cache/chaos-harness.
DEB_PACKAGES := postgresql-15 postgresql-15-repmgr postgresql-client-15 default-jre-headless \
	maven redis-server redis-tools iptables iproute2 util-linux python3-venv chromium docker.io debootstrap openssl \
	openjdk-17-jdk-headless jq gcc libc6-dev
# Flink's distribution for the Flink probe's tests (real JobManagers and a TaskManager on loopback),
# from PyPI's apache-flink-libraries wheel (330 MB), downloaded once; the tests unpack its jars.
CACHE_DIR ?= $(or $(CHAOS_CACHE_DIR),/var/cache/chaos-harness)
FLINK_WHEEL := $(CACHE_DIR)/downloads/apache_flink_libraries-2.3.0-py2.py3-none-any.whl
# Elasticsearch's distribution (Maven's integ-test-zip, on the JDK above) unpacked into the cache, and
# the file-descriptor shim its pods need where the hard RLIMIT_NOFILE is below 65535
# (chaos/components/es_server.py says why), both made once.
ES_STAMP := $(CACHE_DIR)/elasticsearch-8.19.0/.complete
REPORT_DIR ?= reports/latest
SELECT ?= postgres zookeeper kafka redis elasticsearch flink

.PHONY: install jars deb run test test-elasticsearch unit test-kube test-kind controlplane node-image kind-node-image \
	bench bench-run bench-bringup bench-report bench-controlplane bench-node-image bench-kind bench-trend report heal doctor clean

install: deb $(BIN)/.installed $(FLINK_WHEEL) jars $(ES_STAMP)

# Jars resolved through Maven once and cached in $(CACHE_DIR) (later runs fetch nothing): ZooKeeper's
# and Kafka's servers (fixtures/zookeeper/pom.xml, fixtures/kafka/pom.xml), and for Flink on the local
# platform its S3 filesystem plugin and s3proxy (the S3 server standing in for MinIO).
jars: $(BIN)/.installed
	CHAOS_CACHE_DIR=$(CACHE_DIR) $(BIN)/python -c "from chaos.components.flink_local import ensure_s3_plugin; \
		from chaos.s3proxy import ensure_s3proxy_jar; from chaos.components.zookeeper import ensure_zookeeper_jars; \
		from chaos.components.kafka import ensure_kafka_jars; \
		ensure_zookeeper_jars(print); ensure_kafka_jars(print); ensure_s3_plugin(); ensure_s3proxy_jar()"

$(ES_STAMP): | $(BIN)/.installed
	$(BIN)/python -c "from chaos.components import es_server as e; e.ensure_distribution(print); e.needs_fd_shim() and e.ensure_fd_shim()"

# The virtualenv's pip: a fresh Debian's python3 has none.
$(FLINK_WHEEL): | $(BIN)/.installed
	mkdir -p $(CACHE_DIR)/downloads
	$(BIN)/python -m pip download -q --no-deps apache-flink-libraries==2.3.0 -d $(CACHE_DIR)/downloads

# Debian packages: installed only when something is missing, and only as root.
deb:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing Debian packages:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		else echo "missing Debian packages:$$missing (run as root, or apt-get install them)"; exit 2; fi; \
	fi

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

# The main job: every experiment on the local platform, verdicts printed.
run: install
	$(BIN)/chaos run $(SELECT) --report-dir $(REPORT_DIR) --junitxml $(REPORT_DIR)/junit.xml

# The tests: unit (pure), integration (real servers in namespaces) and the experiments.
test: install
	$(BIN)/python -m pytest tests experiments -p no:cacheprovider -ra -m "not outside_make_test" \
		--chaos-report-dir reports/test --junitxml reports/test/junit.xml --chaos-report reports/test/report.html

# Every Elasticsearch experiment, those left out of `make test` included (about 12 minutes).
test-elasticsearch: install
	$(BIN)/python -m pytest experiments/test_elasticsearch.py -p no:cacheprovider -ra

unit: install
	$(BIN)/python -m pytest tests/unit -q -p no:cacheprovider

# The Kubernetes platform alone: the shared fault contract (local and kube), the platform on a real
# control plane built from source with kwok nodes, and kind's node faults on Docker stand-ins.
test-kube: install
	$(BIN)/python -m pytest tests/contract tests/kube tests/docker -p no:cacheprovider -ra

# The kind tier alone: a real kind cluster (a control plane and six workers in zones a/b/c, from the
# node image fixtures/kind-node builds offline) on a Docker daemon the tests start, its network and the
# kube platform's faults on real kubelets (tests/kind); then the stack of fixtures/kind deployed and every
# experiment on it (tests/e2e: hours; skipped, naming what is missing, without the stack's images).
test-kind: install
	$(BIN)/python -m pytest tests/kind tests/e2e -m "kind or kind_e2e" -p no:cacheprovider -ra

# Build (once; cached) the control plane and the kind stand-in node image.
controlplane: install
	$(BIN)/python tests/kube/controlplane.py build

node-image: install
	$(BIN)/python fixtures/node-image/build.py rootfs

# The kind node image (cached), loaded into the Docker daemon of DOCKER_HOST (default: the system's).
kind-node-image: install
	$(BIN)/python fixtures/kind-node/build.py

bench: install
	$(BIN)/python tests/benchmarks/bench_harness.py

# The main job's wall time (`chaos run` on the local platform, every experiment), per component.
bench-run: install
	$(BIN)/python tests/benchmarks/bench_run.py

bench-bringup: install
	$(BIN)/python tests/benchmarks/bench_bringup.py

bench-report: install
	$(BIN)/python tests/benchmarks/bench_report.py

bench-controlplane: install
	$(BIN)/python tests/benchmarks/bench_controlplane.py

bench-node-image: install
	$(BIN)/python tests/benchmarks/bench_node_image.py

bench-kind: install
	$(BIN)/python tests/benchmarks/bench_kind.py

# False alarms of the trend's regression rule over five identical nightly-style runs (about 25 min).
bench-trend: install
	$(BIN)/python tests/benchmarks/bench_trend.py

# The HTML report of a run (REPORT_DIR), with earlier runs for the trend: make report HISTORY="a b"
HISTORY ?=
report: install
	$(BIN)/chaos report $(REPORT_DIR) $(foreach h,$(HISTORY),--history $(h))

heal: install
	$(BIN)/chaos heal

doctor: install
	$(BIN)/chaos doctor

clean:
	rm -rf $(VENV) reports build *.egg-info
