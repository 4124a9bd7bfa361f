# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""The Prometheus endpoint and the operator tooling around it: /metrics of
a gateway replaying the mesh capture (status, content type, promtool,
gzip, 404/405), /healthz and /ready (a stalled worker, a link down), a
real Prometheus server scraping it, scripts/mg_top.py
against the same gateway, and scripts/grafana/meshgate-dashboard.json
(valid JSON, only exported metric names and labels, PromQL a real
Prometheus accepts). Everything listens on loopback, on free ports."""

import gzip
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

import netns
from mgrun import (CONFIGS, REPO, eal_args, mg_telemetry, pcap_vdev,
                   unique_prefix, wait_for)
from promtext import PROMTOOL, Exposition, promtool_check

PROMETHEUS = "/usr/bin/prometheus"
MG_TOP = REPO / "scripts" / "mg_top.py"
GEN = REPO / "scripts" / "gen_mesh_pcaps.py"
DASHBOARD = REPO / "scripts" / "grafana" / "meshgate-dashboard.json"
BASE_CONF = REPO / "app" / "meshgate" / "meshgate.conf"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

READY_S = 20            # gateway: EAL start-up to the first 200
PROM_READY_S = 20       # Prometheus: start to a non-empty query result
STOP_S = 10             # SIGINT / SIGTERM to exit
HTTP_S = 5              # one HTTP request

# The metric families the dashboard may use, and their labels (Istio's
# names where Istio has one; le and the scrape's instance/job besides).
METRICS = {
    "meshgate_requests_total", "meshgate_request_duration_seconds",
    "meshgate_handshake_duration_seconds",
    "meshgate_tcp_connections_opened_total",
    "meshgate_tcp_connections_closed_total",
    "meshgate_tcp_sent_bytes_total", "meshgate_tcp_received_bytes_total",
    "meshgate_policy_decisions_total", "meshgate_drops_total",
    "meshgate_canary_selections_total", "meshgate_flows",
    "meshgate_flow_table_capacity", "meshgate_packets_received_total",
    "meshgate_packets_transmitted_total", "meshgate_busy_ratio",
    "meshgate_packets_per_burst", "meshgate_processing_latency_seconds",
}
LABELS = {"source_workload", "destination_service", "destination_version",
          "response_code_class", "rule", "decision", "reason", "state",
          "lcore", "le", "instance", "job"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# What the dashboard must show (words each panel title must hold).
PANELS = (
    ("request rate",), ("error ratio",), ("duration", "p99"),
    ("handshake", "p95"), ("connections", "opened", "closed"),
    ("bytes",), ("policy decisions",), ("drops by reason",),
    ("canary",), ("flow table",), ("busy",), ("per burst",),
    ("processing latency", "p99"),
)


# ------------------------------------------------------------- helpers

def free_port():
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, headers=None, method="GET"):
    """(status, headers, body) of one request; HTTP errors are answers
    too."""
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=HTTP_S) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.headers, err.read()


def telemetry_conf(tmp_path, port):
    """The bundled config with the management endpoint on `port`."""
    path = tmp_path / ("telemetry-%d.conf" % port)
    path.write_text(BASE_CONF.read_text() +
                    '\ntelemetry = { listen = "127.0.0.1:%d"; };\n' % port)
    return path


def check_config_accepts(run, conf):
    """--check-config accepts `conf` (with its telemetry.listen)."""
    rc, _, err, _ = run(["-f", str(conf), "--check-config"])
    assert rc == 0, "--check-config rejected %s:\n%s" % (conf, err)


class Gateway:
    """A meshgate replaying the mesh capture for ever (infinite_rx), with
    its /metrics on `port`."""

    def __init__(self, mg, pcap, conf, port, stats_path, lcores="0,1",
                 env=None, infinite=True):
        self.mg, self.port, self.stats_path = mg, port, stats_path
        self.prefix = mg.prefix
        self.proc = mg.start(["-f", str(conf), "--stats-json",
                              str(stats_path)],
                             [pcap_vdev(0, rx=pcap, infinite=infinite)],
                             lcores, env=env)
        self.url = "http://127.0.0.1:%d" % port

    def log(self):
        self.proc.log.flush()
        self.proc.log.seek(0)
        return self.proc.log.read()

    def fail(self, why):
        rc, log = self.mg.stop(self.proc, signal.SIGKILL)
        pytest.fail("%s (rc %s):\n%s" % (why, rc, log))

    def wait_ready(self):
        """Telemetry answers, rx is moving and /metrics answers 200.
        Bounded by READY_S each."""
        try:
            mg_telemetry.connect_when_ready(self.prefix, "/meshgate/stats",
                                            "rx", READY_S,
                                            proc=self.proc).close()
        except TimeoutError as err:
            self.fail("telemetry never answered: %s" % err)
        deadline = time.monotonic() + READY_S
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.fail("meshgate exited")
            try:
                status, _, _ = http(self.url + "/metrics")
                if status == 200:
                    return
                last = "status %d" % status
            except OSError as err:
                last = str(err)
            time.sleep(0.1)
        self.fail("/metrics on port %d never answered 200: %s" %
                  (self.port, last))

    def finish(self):
        """Stop by SIGINT; the exit is clean and no mbuf leaked."""
        rc, log = self.mg.stop(self.proc, signal.SIGINT, STOP_S)
        assert rc == 0, log
        with open(self.stats_path) as f:
            stats = json.load(f)
        assert stats["rx"] > 0, stats
        assert stats["mempool"]["in_use"] == 0, "mbufs leaked: %s" % \
            stats["mempool"]


class PromServer:
    """A Prometheus server on a free loopback port, its TSDB in tmp;
    scraping `targets` every second. stop() ends it (bounded)."""

    def __init__(self, tmp_path, targets=()):
        assert shutil.which(PROMETHEUS), \
            "%s missing: scripts/install-deps.sh installs 'prometheus'" % \
            PROMETHEUS
        self.dir = tmp_path / "prometheus"
        self.dir.mkdir()
        conf = self.dir / "prometheus.yml"
        conf.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n  - job_name: meshgate\n"
            "    static_configs:\n      - targets: [%s]\n" %
            ", ".join('"%s"' % t for t in targets))
        check = subprocess.run([PROMTOOL, "check", "config", str(conf)],
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log = open(self.dir / "prometheus.log", "w+")
        self.proc = subprocess.Popen(
            [PROMETHEUS, "--config.file=%s" % conf,
             "--storage.tsdb.path=%s" % (self.dir / "tsdb"),
             "--web.listen-address=127.0.0.1:%d" % self.port,
             "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)

    def logs(self):
        self.log.seek(0)
        return self.log.read()

    def api(self, path, **params):
        """The parsed JSON of one API call (errors included), or None
        while the server does not answer yet."""
        url = "%s/api/v1/%s?%s" % (self.url, path,
                                   urllib.parse.urlencode(params))
        try:
            status, _, body = http(url)
        except OSError:
            return None
        return json.loads(body) if body else {"status": status}

    def wait_ready(self):
        deadline = time.monotonic() + PROM_READY_S
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, \
                "prometheus exited:\n" + self.logs()
            try:
                if http(self.url + "/-/ready")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        pytest.fail("prometheus not ready after %d s:\n%s" %
                    (PROM_READY_S, self.logs()))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        shutil.rmtree(self.dir / "tsdb", ignore_errors=True)


# ------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def mesh_pcap(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("mesh-pcaps")
    subprocess.run([sys.executable, str(GEN), str(outdir)], check=True,
                   timeout=120)
    with open(outdir / "mesh.json") as f:
        manifest = json.load(f)
    return outdir / manifest["scenarios"]["main"]["pcaps"]["edge"]


@pytest.fixture
def gateway(mg, run, mesh_pcap, tmp_path):
    """A gateway serving /metrics on a free port."""
    port = free_port()
    conf = telemetry_conf(tmp_path, port)
    check_config_accepts(run, conf)
    gw = Gateway(mg, mesh_pcap, conf, port, tmp_path / "stats.json")
    gw.wait_ready()
    return gw


@pytest.fixture
def prom_servers(tmp_path):
    """Starts PromServers on demand and stops every one at the end."""
    started = []

    def start(targets=()):
        server = PromServer(tmp_path, targets)
        started.append(server)
        server.wait_ready()
        return server
    yield start
    for server in started:
        server.stop()


# ---------------------------------------------------------- /metrics

def test_metrics_endpoint(gateway):
    url = gateway.url + "/metrics"

    status, headers, body = http(url)
    assert status == 200
    assert headers["Content-Type"] == CONTENT_TYPE
    assert headers.get("Content-Encoding") is None
    ok, said = promtool_check(body)
    assert ok, "promtool check metrics:\n" + said
    text = body.decode("utf-8")
    m = Exposition(text)
    rx = m.select("meshgate_packets_received_total")
    assert rx and sum(v for _, v in rx) > 0, \
        "no received packets in /metrics:\n" + text[:2000]
    assert m.select("meshgate_flow_table_capacity"), text[:2000]
    # passive health: one series per (service, version, backend) of the
    # bundled config, up or not, with its ejection count
    keys = ("destination_service", "destination_version", "backend")
    up = m.series("meshgate_backend_up", keys)
    ejections = m.series("meshgate_backend_ejections_total", keys)
    for key in (
            ("shop", "v1", "198.18.2.21:8080"), ("shop", "v1",
                                                 "2001:db8:2::21"),
            ("sandbox", "v1", "198.18.2.22:9000"),
            ("pair", "v1", "198.18.2.21"), ("pair", "v2", "198.18.2.22"),
            ("dns", "v1", "198.18.2.53")):
        assert up.get(key) in (0.0, 1.0), (key, sorted(up))
        assert ejections.get(key, -1) >= 0, (key, sorted(ejections))
    assert len(m.select("meshgate_backend_up")) == \
        len(m.select("meshgate_backend_ejections_total")) == 9, sorted(up)

    # gzip when asked; the same exposition once decompressed
    status, headers, zbody = http(url, {"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["Content-Type"] == CONTENT_TYPE
    assert headers["Content-Encoding"] == "gzip"
    assert zbody[:2] == b"\x1f\x8b", "not a gzip member"
    unzipped = gzip.decompress(zbody)
    ok, said = promtool_check(unzipped)
    assert ok, "promtool check metrics (gzip):\n" + said
    assert Exposition(unzipped.decode()).types == m.types

    # gzip;q=0 means "not gzip"
    status, headers, _ = http(url, {"Accept-Encoding": "gzip;q=0"})
    assert status == 200 and headers.get("Content-Encoding") is None

    status, _, _ = http(gateway.url + "/other")
    assert status == 404
    status, _, _ = http(gateway.url + "/metrics/extra")
    assert status == 404
    status, headers, _ = http(url, method="POST")
    assert status == 405
    assert "GET" in headers.get("Allow", "")
    status, headers, body = http(url, method="HEAD")
    assert status == 200 and body == b""

    # still serving after all that
    assert http(url)[0] == 200
    gateway.finish()


def test_dashboard_metrics_exported(gateway):
    """Every metric family the dashboard queries is in /metrics, with the
    type the query assumes (_bucket: histogram)."""
    status, _, body = http(gateway.url + "/metrics")
    assert status == 200
    exported = Exposition(body.decode()).types
    used = dashboard_metrics(load_dashboard())
    missing = sorted(used - set(exported))
    assert not missing, "the dashboard queries families /metrics lacks: " \
        "%s" % missing
    for name in dashboard_histograms(load_dashboard()):
        assert exported[name] == "histogram", \
            "%s is a %s, the dashboard takes it for a histogram" % (
                name, exported[name])
    gateway.finish()


# ------------------------------------------------- /healthz and /ready

def check_probe(url, status, body):
    """One GET and one HEAD of a probe: status, text body, no caching."""
    got, headers, text = http(url)
    assert (got, text.decode()) == (status, body), (got, text)
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["Cache-Control"] == "no-store"
    got, _, text = http(url, method="HEAD")
    assert got == status and text == b""


def test_health_and_ready(gateway):
    """Next to /metrics: /healthz and /ready answer 200 "ok" once the
    workers run (the endpoint starts just before them: until then both
    say so with a 503); POST is refused as for /metrics."""
    wait_for(lambda: http(gateway.url + "/ready")[0] == 200, READY_S,
             "/ready answering 200")
    check_probe(gateway.url + "/healthz", 200, "ok\n")
    check_probe(gateway.url + "/ready", 200, "ok\n")
    assert http(gateway.url + "/healthz", method="POST")[0] == 405
    status, _, body = http(gateway.url + "/health")
    assert status == 404 and b"/healthz" in body and b"/ready" in body
    gateway.finish()


L7_BASE = (CONFIGS / "l7_many_patterns.conf").read_text()
STALL_PATTERNS = 2000   # a reload that loads and compiles for seconds


def l7_conf(path, port, n):
    """l7_many_patterns.conf's gateway with n path patterns and /metrics
    on `port`."""
    head = L7_BASE[:L7_BASE.index("\t\tpath = [")]
    paths = ",\n".join('\t\t\t"^/api/v1/item-%05d(/|$)"' % i
                       for i in range(n))
    path.write_text(head + "\t\tpath = [\n" + paths +
                    "\n\t\t];\n\t}; }\n);\n" +
                    'telemetry = { listen = "127.0.0.1:%d"; };\n' % port)
    return path


def test_single_core_reload_does_not_stall(mg, run, mesh_pcap, tmp_path):
    """Single-core mode (-l 0): the main lcore forwards, and a reload's
    parse and compile of STALL_PATTERNS anchored patterns (seconds) run
    on the control thread. /healthz, which wants every worker's poll
    counter to move within 250 ms, answers 200 all through the reload,
    and the longest stall the worker saw (stall_max_us), and since the
    reload began (reload_stall_max_us), stay under that bound."""
    port = free_port()
    conf = l7_conf(tmp_path / "l7.conf", port, 10)
    check_config_accepts(run, conf)
    gw = Gateway(mg, mesh_pcap, conf, port, tmp_path / "stats.json",
                 lcores="0")
    gw.wait_ready()
    wait_for(lambda: http(gw.url + "/healthz")[0] == 200, READY_S,
             "/healthz answering 200")
    mark = len(gw.log())
    l7_conf(conf, port, STALL_PATTERNS)
    gw.proc.send_signal(signal.SIGHUP)
    seen = []
    deadline = time.monotonic() + 60
    while "new ruleset in force" not in gw.log()[mark:]:
        assert time.monotonic() < deadline, "reload never ended:\n" + \
            gw.log()[mark:]
        assert gw.proc.poll() is None, gw.log()
        seen.append(http(gw.url + "/healthz")[::2])
        time.sleep(0.02)
    assert len(seen) > 10, "the reload was too quick to watch: %s" % seen
    assert set(seen) == {(200, b"ok\n")}, [x for x in seen if x[0] != 200]
    with mg_telemetry.connect_when_ready(gw.prefix, "/meshgate/stats", "rx",
                                         READY_S, proc=gw.proc) as tel:
        stats = tel.query("/meshgate/stats")
    assert stats["stall_max_us"] < 250000, stats
    assert stats["reload_stall_max_us"] < 250000, stats
    gw.finish()


def cpus_allowed(pid):
    """{thread name: set of CPUs it may run on} of a process."""
    out = {}
    for task in (Path("/proc") / str(pid) / "task").iterdir():
        name = (task / "comm").read_text().strip()
        for line in (task / "status").read_text().splitlines():
            if line.startswith("Cpus_allowed_list:"):
                cpus = set()
                for part in line.split(":", 1)[1].strip().split(","):
                    lo, _, hi = part.partition("-")
                    cpus.update(range(int(lo), int(hi or lo) + 1))
                out.setdefault(name, set()).update(cpus)
    return out


def test_endpoint_thread_off_the_worker_cpu(mg, mesh_pcap, tmp_path):
    """Single-core mode (-l 0): the main lcore forwards on CPU 0, and the
    /metrics server's thread (libmicrohttpd's) runs where EAL puts
    control threads, never on the worker's CPU, so a scrape does not
    preempt forwarding. On a one-CPU machine there is nowhere else."""
    port = free_port()
    gw = Gateway(mg, mesh_pcap, telemetry_conf(tmp_path, port), port,
                 tmp_path / "stats.json", lcores="0")
    gw.wait_ready()
    threads = cpus_allowed(gw.proc.pid)
    gw.finish()
    assert threads.get("meshgate") == {0}, threads
    mhd = {n: c for n, c in threads.items() if n.startswith("MHD")}
    assert mhd, threads
    if len(os.sched_getaffinity(0)) > 1:
        for name, cpus in mhd.items():
            assert 0 not in cpus, (name, threads)
            assert cpus == threads["mg-control"], threads


def test_healthz_sees_a_stalled_worker(mg, mesh_pcap, tmp_path):
    """A worker that stops making poll rounds (the test hook: with
    MESHGATE_TEST_STALL_MS set, SIGUSR1 stalls every worker once, for
    that long, at its next idle round: the capture is replayed once)
    turns /healthz 503 naming its lcore, and 200 again after; /ready
    stays 200 (ports up, a ruleset in force); the stall shows as the
    worker's stall_max_us, and as its reload_stall_max_us until a reload
    begins a new window."""
    port = free_port()
    conf = tmp_path / "gw.conf"
    conf.write_text(BASE_CONF.read_text() +
                    'telemetry = { listen = "127.0.0.1:%d"; };\n' % port)
    gw = Gateway(mg, mesh_pcap, conf, port, tmp_path / "stats.json",
                 lcores="0,1", env={"MESHGATE_TEST_STALL_MS": "1500"},
                 infinite=False)
    gw.wait_ready()
    wait_for(lambda: http(gw.url + "/healthz")[0] == 200, READY_S,
             "/healthz answering 200")
    gw.proc.send_signal(signal.SIGUSR1)
    wait_for(lambda: http(gw.url + "/healthz")[0] == 503, READY_S,
             "/healthz answering 503")
    check_probe(gw.url + "/healthz", 503,
                "lcore 1 made no poll round in 250 ms\n")
    check_probe(gw.url + "/ready", 200, "ok\n")
    wait_for(lambda: http(gw.url + "/healthz")[0] == 200, READY_S,
             "/healthz answering 200 again")
    # the stall is the longest the worker ever stood still: the hook
    # sleeps 1.5 s, counted in TSC cycles at EAL's calibrated rate
    # (within 1%)
    with mg_telemetry.connect_when_ready(gw.prefix, "/meshgate/stats", "rx",
                                         READY_S, proc=gw.proc) as tel:
        stats = tel.query("/meshgate/stats")
        assert stats["stall_max_us"] >= 1485000, stats
        # no reload yet: the window is the whole run
        assert stats["reload_stall_max_us"] == stats["stall_max_us"], stats
        mark = len(gw.log())
        gw.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "new ruleset in force" in gw.log()[mark:], READY_S,
                 "the reload")
        # the worker's next round starts the reload's window (idle
        # rounds here: at most the back-off's longest sleep apart)
        wait_for(lambda: tel.query("/meshgate/stats")
                 ["reload_stall_max_us"] < 250000, READY_S,
                 "a new stall window after the reload")
        stats = tel.query("/meshgate/stats")
        assert stats["stall_max_us"] >= 1485000, stats
        assert stats["reload_stall_max_us"] < 250000, stats
        lcore = tel.query("/meshgate/lcores")["1"]
        assert lcore["reload_stall_max_us"] < 250000, lcore
    gw.finish()


NETNS_WHY = netns.available()
TAP_CONF = """mode = "one-arm";
ports = ( { name = "tapside"; device = "net_tap0"; profile = "tap"; } );
telemetry = { listen = "127.0.0.1:9469"; };
"""


@pytest.mark.skipif(NETNS_WHY is not None, reason=str(NETNS_WHY))
def test_ready_follows_the_link(meshgate_bin, tmp_path):
    """/ready reads each port's link: a gateway on a TAP device (inside a
    namespace of its own) is ready; with the interface set down it
    answers 503 naming the port, while /healthz stays 200 (the worker
    still polls); up again, ready again."""
    topo = netns.Topology()
    prefix = unique_prefix()
    try:
        ns = topo.add("gw")
        conf = tmp_path / "tap.conf"
        conf.write_text(TAP_CONF)
        proc = ns.popen([meshgate_bin] + eal_args(
            prefix, "0,1", ["net_tap0,iface=mgtap0"]) +
            ["--", "-f", conf, "--stats-json", tmp_path / "stats.json"],
            tmp_path / "meshgate.log")
        mg_telemetry.connect_when_ready(prefix, "/meshgate/stats", "rx", 20,
                                        proc=proc).close()

        def probe(path):
            def get():
                try:
                    return http("http://127.0.0.1:9469" + path)
                except OSError:         # not listening yet
                    return (None, None, b"")
            return netns.in_netns(ns.name, get)

        def wait_probe(path, status, body):
            got = wait_for(lambda: (lambda r: r if r[0] == status else None)(
                probe(path)), 10, "%s answering %d" % (path, status))
            assert got[2].decode() == body, got
        wait_probe("/ready", 200, "ok\n")
        ns.ip("link", "set", "mgtap0", "down")
        wait_probe("/ready", 503, "port tapside: link down\n")
        wait_probe("/healthz", 200, "ok\n")
        ns.ip("link", "set", "mgtap0", "up")
        wait_probe("/ready", 200, "ok\n")
        rc, log = topo.stop(proc, signal.SIGINT, 10)
        assert rc == 0, log
        with open(tmp_path / "stats.json") as f:
            assert json.load(f)["mempool"]["in_use"] == 0
    finally:
        topo.destroy()
        shutil.rmtree(mg_telemetry.runtime_dir(prefix), ignore_errors=True)


# ---------------------------------------------------------- Prometheus

def test_real_prometheus_scrapes(gateway, prom_servers):
    server = prom_servers(["127.0.0.1:%d" % gateway.port])
    deadline = time.monotonic() + PROM_READY_S
    reply = None
    while time.monotonic() < deadline:
        reply = server.api("query", query="meshgate_packets_received_total")
        if reply and reply.get("status") == "success" and \
                reply["data"]["result"]:
            break
        time.sleep(0.5)
    else:
        targets = server.api("targets")
        pytest.fail("no meshgate_packets_received_total after %d s\n"
                    "last reply: %s\ntargets: %s\nlog:\n%s" % (
                        PROM_READY_S, reply, targets, server.logs()))
    result = reply["data"]["result"]
    assert all(r["metric"]["job"] == "meshgate" for r in result), result
    assert sum(float(r["value"][1]) for r in result) > 0, result

    targets = server.api("targets")["data"]["activeTargets"]
    assert [t["health"] for t in targets] == ["up"], targets
    gateway.finish()


# ---------------------------------------------------------- mg_top.py

def test_mg_top_once(mg, run, mesh_pcap, tmp_path):
    """One snapshot of a gateway replaying for ever: rx moves. mg_top
    reads the DPDK telemetry socket, not /metrics; the endpoint is put on
    a free port, so that it never takes the default one."""
    port = free_port()
    conf = telemetry_conf(tmp_path, port)
    check_config_accepts(run, conf)
    gw = Gateway(mg, mesh_pcap, conf, port, tmp_path / "stats.json")
    gw.wait_ready()
    proc = subprocess.run([sys.executable, str(MG_TOP), gw.prefix,
                           "--once", "--interval", "1"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    rx = re.search(r"^rx\s+(\d+\.\d+) pps\s+tx\s+(\d+\.\d+) pps$", out,
                   re.M)
    assert rx, "no rx rate line:\n" + out
    assert float(rx.group(1)) > 0, out
    assert re.search(r"^drops\s+\d+\.\d+ /s\s+new flows\s+\d+\.\d+ /s$",
                     out, re.M), out
    assert re.search(r"^drops/s by reason: ", out, re.M), out
    lcore = re.search(r"^1\s+worker\s+(\d+\.\d+)\s+", out, re.M)
    assert lcore and float(lcore.group(1)) > 0, out
    gw.finish()


def test_mg_top_no_gateway():
    proc = subprocess.run([sys.executable, str(MG_TOP), "mgt-nobody-here",
                           "--once", "--wait", "0.5"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert "mg_top:" in proc.stderr and "Traceback" not in proc.stderr


# ---------------------------------------------------------- dashboard

def load_dashboard():
    with open(DASHBOARD) as f:
        return json.load(f)


def panels(dash):
    for panel in dash["panels"]:
        yield panel
        yield from panel.get("panels", [])


def exprs(dash):
    out = [t["expr"] for p in panels(dash) for t in p.get("targets", [])]
    for var in dash["templating"]["list"]:
        if var["type"] == "query":
            q = var["query"]
            out.append(q["query"] if isinstance(q, dict) else q)
    return out


NAME = re.compile(r"\bmeshgate_[a-z0-9_]+")


def base_name(name):
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and name[:-len(suffix)] in METRICS:
            return name[:-len(suffix)]
    return name


def dashboard_metrics(dash):
    return {base_name(n) for e in exprs(dash) for n in NAME.findall(e)}


def dashboard_histograms(dash):
    return {n[:-len("_bucket")] for e in exprs(dash)
            for n in NAME.findall(e) if n.endswith("_bucket")}


def promql(expr):
    """A dashboard query as Prometheus receives it from Grafana."""
    return (expr.replace("$instance", ".*").replace("$service", ".*")
            .replace("$__rate_interval", "1m"))


def test_dashboard_static():
    dash = load_dashboard()
    assert 36 <= dash["schemaVersion"] <= 39
    assert dash["uid"] and dash["title"]
    ds = [v for v in dash["templating"]["list"] if v["type"] == "datasource"]
    assert [(v["name"], v["query"]) for v in ds] == \
        [("DS_PROMETHEUS", "prometheus")]

    ids = [p["id"] for p in panels(dash)]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    for p in panels(dash):
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "prometheus",
                                   "uid": "${DS_PROMETHEUS}"}, p["title"]
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == "${DS_PROMETHEUS}", p["title"]
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]

    titles = [p["title"].lower() for p in panels(dash)]
    for words in PANELS:
        assert any(all(w in t for w in words) for t in titles), \
            "no panel titled with %s" % (words,)

    unknown = dashboard_metrics(dash) - METRICS
    assert not unknown, "dashboard uses unknown metrics: %s" % unknown
    unused = METRICS - dashboard_metrics(dash)
    assert not unused, "metrics without a panel: %s" % unused
    for e in exprs(dash):
        for clause in re.findall(r"\b(?:by|ignoring|on)\s*\(([^)]*)\)", e):
            for label in filter(None, (x.strip() for x in
                                       clause.split(","))):
                assert label in LABELS, "%r: label %s" % (e, label)
        for sel in re.findall(r"\{([^}]*)\}", e):
            for label in re.findall(r"([a-z_]+)\s*(?:=~|!~|!=|=)", sel):
                assert label in LABELS, "%r: label %s" % (e, label)


def test_dashboard_promql_parses(prom_servers):
    """Every query of the dashboard, variables filled in as Grafana does,
    through a real Prometheus: it parses and evaluates."""
    server = prom_servers()
    bad = []
    for expr in exprs(load_dashboard()):
        if expr.startswith("label_values("):
            m = re.match(r"label_values\((.*),\s*([a-z_]+)\)$", expr)
            assert m, expr
            expr = promql(m.group(1))
        reply = server.api("query", query=promql(expr))
        if reply is None or reply.get("status") != "success":
            bad.append((expr, reply))
    assert not bad, "Prometheus rejects:\n" + "\n".join(
        "%s\n  -> %s" % b for b in bad)
