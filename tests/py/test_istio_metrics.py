# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""telemetry.naming = "istio" against a real Prometheus: meshgate one-arm
on net_af_packet in namespaces (test_metrics.py's slow-backend topology:
service slow, 198.19.0.60:80 -> b1:8080, a backend that answers after
0.3 s), a stream of real curl requests, Prometheus (the Debian package)
scraping /metrics every second in the gateway's namespace, and one
PromQL query per panel of Istio's service dashboard, written here from
the metric names, labels and units those panels read, run with
`promtool query instant`. Every panel must return data, and the values
must be right: request rates > 0, success rate 1 (all 200), durations in
milliseconds (p50 between the 250 and 500 ms bucket bounds, for a 0.3 s
backend), bytes > 0, request and response sizes in bytes (quantiles in
the (10, 100] bucket, the mean within the bounds of what curl sends and
exactly what the backend answers)."""

import math
import re
import signal

import pytest

from mgrun import wait_for
from promtext import PROMTOOL
from test_metrics import (E2E_CONF, E2E_METRICS, NETNS_WHY,
                          PROM_QUERY_S, SLOW_S, SLOW_SERVER, SLOW_VIP,
                          NsPrometheus, SlowE2E, run_slow_e2e)

pytestmark = pytest.mark.skipif(NETNS_WHY is not None, reason=str(NETNS_WHY))

LOAD_REQUESTS = 80      # curls in the background load, one at a time
LOAD_S = 60             # ... and at most this long
SVC = 'destination_service=~"slow"'
# what the dashboard's variables select: every source workload and
# namespace ($srcwl, $srcns = All), every destination workload
SRC = 'source_workload=~".*",source_workload_namespace=~".*"'
DST = 'destination_workload=~".*",destination_workload_namespace=~".*"'

# Message sizes (head + body), as the gateway must measure them. The
# backend's one answer (SLOW_SERVER, checked in the test), all in one
# segment:
RESPONSE_BYTES = len(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                     b"Connection: close\r\n\r\nslow\n")      # 62
# curl's GET: the request line, Host and the empty line at least; its
# User-Agent ("curl/7.88.1") and Accept add under 60 bytes
REQUEST_MIN = len("GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % SLOW_VIP)
REQUEST_MAX = REQUEST_MIN + 60
SIZE_BOUNDS = {"request": (REQUEST_MIN, REQUEST_MAX),
               "response": (RESPONSE_BYTES, RESPONSE_BYTES)}


def rate(metric, sel, by=None, window="1m", fn="irate"):
    expr = "sum(%s(%s{%s}[%s]))" % (fn, metric, sel, window)
    return expr + (" by (%s)" % by if by else "")


def success(sel, by=None):
    return "%s / %s" % (
        rate("istio_requests_total", sel + ',response_code!~"5.*"', by,
             "5m"),
        rate("istio_requests_total", sel, by, "5m"))


def quantile(q, sel, by=None,
             metric="istio_request_duration_milliseconds_bucket"):
    keys = "le" if by is None else by + ", le"
    return "histogram_quantile(%s, %s)" % (q, rate(metric, sel, keys))


def sizes(title, sel, by=None):
    """The dashboard's request and response size panels (P50, P90, P95,
    P99 of istio_request_bytes and istio_response_bytes), and the mean
    size of each as _sum over _count."""
    out = []
    for msg in ("request", "response"):
        metric = "istio_%s_bytes" % msg
        out += [("%s %s Size P%s" % (title, msg.capitalize(),
                                     q[2:] or "50"),
                 quantile(q, sel, by, metric + "_bucket"), "bytes")
                for q in ("0.50", "0.90", "0.95", "0.99")]
        out.append(("%s %s Size mean" % (title, msg.capitalize()),
                    "%s / %s" % (rate(metric + "_sum", sel, by, "5m",
                                      "increase"),
                                 rate(metric + "_count", sel, by, "5m",
                                      "increase")), "mean " + msg))
    return out


def panels():
    """(panel title, PromQL, kind of value) for Istio's service dashboard
    with $service = slow; $qrep (reporter) is "destination", its default
    for the workload rows. kind: "rate" (> 0), "ratio" (== 1), "ms" (a
    duration of the 0.3 s backend, in milliseconds)."""
    out = []
    for side, rep in (("Client", "source"), ("Server", "destination")):
        sel = 'reporter="%s",%s' % (rep, SVC)
        out += [
            ("%s Request Volume" % side,
             "round(%s, 0.001)" % rate("istio_requests_total", sel,
                                        window="5m"), "rate"),
            ("%s Success Rate (non-5xx responses)" % side, success(sel),
             "ratio"),
        ]
        out += [("%s Request Duration P%s" % (side, q[2:] or "50"),
                 quantile(q, sel), "ms") for q in ("0.50", "0.90", "0.99")]
        out += sizes(side, sel)
    out += [
        ("TCP Received Bytes",
         rate("istio_tcp_received_bytes_total",
              'reporter="source",' + SVC), "rate"),
        ("TCP Sent Bytes",
         rate("istio_tcp_sent_bytes_total", 'reporter="source",' + SVC),
         "rate"),
    ]
    for row, who, by in (
            ("Client Workloads", SRC,
             "source_workload, source_workload_namespace"),
            ("Service Workloads", DST,
             "destination_workload, destination_workload_namespace")):
        # the dashboard draws mTLS and plain traffic as two queries of
        # one panel; without ESP the plain one carries it
        sel = 'reporter=~"destination",%s,%s,' \
            'connection_security_policy!="mutual_tls"' % (SVC, who)
        out += [
            ("%s: Incoming Requests By %s And Response Code" % (row, by),
             "round(%s, 0.001)" % rate("istio_requests_total", sel,
                                        by + ", response_code", "5m"),
             "rate"),
            ("%s: Incoming Success Rate (non-5xx responses)" % row,
             success(sel, by), "ratio"),
        ]
        out += [("%s: Incoming Request Duration P%s" % (row, q[2:] or "50"),
                 quantile(q, sel, by), "ms")
                for q in ("0.50", "0.90", "0.99")]
        out += sizes("%s: Incoming" % row, sel, by)
        out += [
            ("%s: Bytes Received from Incoming TCP Connection" % row,
             rate("istio_tcp_received_bytes_total", sel, by), "rate"),
            ("%s: Bytes Sent to Incoming TCP Connection" % row,
             rate("istio_tcp_sent_bytes_total", sel, by), "rate"),
        ]
    # the TCP connection counters the workload dashboard and Kiali read
    for name in ("istio_tcp_connections_opened_total",
                 "istio_tcp_connections_closed_total"):
        out.append(("%s by source" % name,
                    rate(name, 'reporter="destination",' + SVC,
                         "source_workload", "5m", "increase"), "rate"))
    return out


class IstioE2E(SlowE2E):
    def write_conf(self):
        """E2E_CONF with telemetry.naming = "istio"."""
        text = E2E_CONF.read_text()
        old = "max_label_sets = 16; };"
        assert old in text
        self.conf.write_text(text.replace(
            old, 'max_label_sets = 16; naming = "istio"; };'))


@pytest.fixture
def istio_e2e(meshgate_bin, tmp_path):
    # run_slow_e2e checks the clean stop (no mbuf leaked) after the test
    yield from run_slow_e2e(IstioE2E(meshgate_bin, tmp_path))


RESULT = re.compile(r"^(\{.*\}) => (\S+) @\[")


def promtool_query(env, url, expr):
    """[(labels text, value)] of an instant query, by promtool."""
    proc = env.topo["gw"].run([PROMTOOL, "query", "instant", url, expr],
                              timeout=30)
    assert proc.returncode == 0, (expr, proc.stdout, proc.stderr)
    out = []
    for line in proc.stdout.splitlines():
        if not line.strip():
            continue
        m = RESULT.match(line.strip())
        assert m, "promtool said %r for %s" % (line, expr)
        out.append((m.group(1), float(m.group(2))))
    return out


def check_value(kind, v):
    if kind == "rate":
        return v > 0
    if kind == "ratio":
        return v == 1
    if kind == "bytes":
        # every request and response is in (10, 100] bytes: quantiles
        # interpolate within that bucket
        return 10 < v <= 100
    if kind.startswith("mean "):
        lo, hi = SIZE_BOUNDS[kind[5:]]
        return lo - 1e-6 <= v <= hi + 1e-6
    # a 0.3 s backend: p50..p99 fall in the (250, 500] ms bucket
    return 250 < v <= 500


def test_istio_dashboard_panels(istio_e2e, tmp_path):
    env = istio_e2e
    # the exposition itself: Istio's names, labels and units
    m = wait_for(lambda: env.curl()[0] == 0 and env.metrics(), 10,
                 "a first request")
    text = m.text
    assert "meshgate_requests_total" not in text
    for name in ("istio_requests_total",
                 "istio_request_duration_milliseconds_bucket",
                 "istio_request_bytes_bucket", "istio_response_bytes_bucket",
                 "istio_tcp_sent_bytes_total",
                 "istio_tcp_received_bytes_total",
                 "istio_tcp_connections_opened_total",
                 "istio_tcp_connections_closed_total"):
        assert "\n%s{" % name in text, name
    got = m.select("istio_requests_total", reporter="destination")
    assert len(got) == 1, got
    labels, value = got[0]
    assert value == 1
    assert labels == {
        "reporter": "destination", "source_workload": "frontend",
        "source_workload_namespace": "prod", "source_app": "frontend",
        "destination_service": "slow",
        "destination_service_name": "slow",
        "destination_service_namespace": "prod",
        "destination_workload": "slow-v1",
        "destination_workload_namespace": "prod",
        "destination_version": "v1", "destination_app": "slow",
        "request_protocol": "http", "response_code": "200",
        "response_flags": "-", "connection_security_policy": "none"}, labels
    assert len(m.select("istio_requests_total", reporter="source")) == 1
    # milliseconds: the one request is in (250, 500]
    b = {lab["le"]: v for lab, v in m.select(
        "istio_request_duration_milliseconds_bucket",
        reporter="destination")}
    assert b["250"] == 0 and b["500"] == 1, b
    dur = m.select("istio_request_duration_milliseconds_sum",
                   reporter="destination")[0][1]
    assert SLOW_S * 1000 <= dur < 500, dur
    # sizes in bytes: the one request and its response
    for line in (r'b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"',
                 r'b"Connection: close\r\n\r\n%s"', r'body = b"slow\n"'):
        assert line in SLOW_SERVER, line  # RESPONSE_BYTES is its answer
    for msg, (lo, hi) in SIZE_BOUNDS.items():
        name = "istio_%s_bytes" % msg
        for rep in ("destination", "source"):
            assert m.select(name + "_count", reporter=rep)[0][1] == 1, name
            size = m.select(name + "_sum", reporter=rep)[0][1]
            assert lo <= size <= hi, (name, size, lo, hi)
            b = {lab["le"]: v for lab, v in m.select(name + "_bucket",
                                                    reporter=rep)}
            assert b["10"] == 0 and b["100"] == 1 and b["+Inf"] == 1, b

    load = env.topo["cli"].popen(
        ["/usr/bin/timeout", str(LOAD_S), "/bin/sh", "-c",
         "for i in $(seq %d); do curl -s -o /dev/null --max-time 3 "
         "http://%s/; done" % (LOAD_REQUESTS, SLOW_VIP)],
        tmp_path / "load.log")
    prom = NsPrometheus(env.topo, env.topo["gw"], tmp_path, E2E_METRICS)
    try:
        prom.wait_ready()
        url = prom.url
        # a few scrapes with requests between them
        wait_for(lambda: promtool_query(
            env, url, "count_over_time(istio_requests_total[1m]) > 4"),
            PROM_QUERY_S, "5 scrapes of istio_requests_total",
            interval=0.5)
        assert load.poll() is None, "the load ended before the queries"
        failed = []
        for title, expr, kind in panels():
            res = promtool_query(env, url, expr)
            ok = bool(res) and all(check_value(kind, v) and
                                   not math.isnan(v) for _, v in res)
            print("%-75s %s" % (title, res))
            if not ok:
                failed.append("%s: %s -> %s" % (title, expr, res))
        assert not failed, "panels without data or with wrong values:\n" \
            + "\n".join(failed)
    finally:
        prom.stop()
        env.topo.stop(load, signal.SIGTERM, 5)
