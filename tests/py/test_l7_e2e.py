# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""End to end, layer 7: meshgate one-arm on net_af_packet in a network
namespace between a client (curl, raw sockets) and a backend that logs
every connection, request, TLS server name and reset it sees:

    cli 198.18.1.10     --+-- br0 (ns sw) --+-- b1 198.18.2.21
        2001:db8:1::10    |                 |      2001:db8:2::21
                          |                 |   :8080 HTTP, :8443 HTTPS
                          +-- gw0 (ns gw): meshgate, 198.18.{1,2}.1,
                                           2001:db8:{1,2}::1

tests/configs/l7_e2e.conf: service web (198.19.0.20 and 2001:db8:100::20
port 80 -> b1:8080) with HTTP rules (the client may GET ^/api/,
^/admin(/|$) and the host admin.example are denied to everyone, anything
else, upgrades included, falls to the default deny) and service secure
(198.19.0.21:443 -> b1:8443) with SNI rules (api.example allowed,
evil.example denied, anything else by default, no SNI as l7_no_sni).
Paths, Host and SNI are matched in their normal forms (curl with a
query, ";params", Host with port and capitals, an h2c upgrade, an
address without SNI). A denied request
must reset the connection both ways: the client sees a reset, the backend
sees a reset and never the denied request, and sniffers on both sides
check every reset's addresses, sequence and acknowledgement numbers
against the spec. Every test checks the exact change of every l7_* drop
counter and every rule's decisions; the last one stops the gateway and
checks the totals and the mbuf pool. The module fixture's teardown stops
the gateway too (if still running) and checks its exit and mbuf pool, so
that any selection of the tests (-k) is checked for leaks."""

import collections
import re
import shutil
import signal
import socket
import struct
import threading
import time

import pytest

import netns
from gateway import GatewayEnv
from mgrun import CONFIGS, drop_reasons, mg_telemetry, wait_for

_why = netns.available()
if _why:
    pytest.skip(_why, allow_module_level=True)

GW_MAC = "02:6d:67:00:00:01"
CLI_MAC = "02:6d:67:01:00:10"
B1_MAC = "02:6d:67:02:00:21"
CLI4, B1 = "198.18.1.10", "198.18.2.21"
CLI6, B1_6 = "2001:db8:1::10", "2001:db8:2::21"
GW_ADDRS = {"cli": "198.18.1.1", "mesh": "198.18.2.1"}
GW_ADDRS6 = {"cli": "2001:db8:1::1", "mesh": "2001:db8:2::1"}
WEB_VIP, WEB_PORT = "198.19.0.20", 80
WEB_VIP6 = "2001:db8:100::20"
TLS_VIP, TLS_PORT = "198.19.0.21", 443
HTTP_BACKEND_PORT, TLS_BACKEND_PORT = 8080, 8443
CONFIG = CONFIGS / "l7_e2e.conf"

READY_S = 20            # EAL start-up, telemetry answering
SERVER_READY_S = 10
CURL_S = 5              # --max-time of one curl
COUNTERS_S = 2          # a verdict to show in the counters
BACKEND_S = 3           # a reset to show in the backend's log
SPLIT_PAUSE_S = 0.2     # between the two halves of a split request line

DEFAULT_DENY = "default-deny"
RULES = ("web-no-admin", "web-no-admin-host", "web-api", "api-sni",
         "evil-sni", "web-no-b", DEFAULT_DENY)
RELOAD_S = 15           # a reload to be in force (it compiles the rules)
DECISIONS = ("allow", "deny", "dry_run")

# The backend: HTTP/1.1 (keep-alive) on :8080 and HTTPS on :8443 of each
# of its addresses, one thread per connection. Every event goes to the
# log as one line "PROTO EVENT PEER [DETAIL]", PEER being the client's
# address:port ([address]:port for IPv6): conn (accepted), sni NAME
# (ClientHello read), req METHOD PATH (a whole request head parsed),
# reset (ECONNRESET), error, close.
BACKEND = r"""
import http.server, socket, socketserver, ssl, sys, threading
addrs, log_path, cert, key, http_port, tls_port = sys.argv[1:7]
log = open(log_path, "a", buffering=1)
lock = threading.Lock()

def event(proto, what, peer, *detail):
    with lock:
        host = ("[%s]" if ":" in peer[0] else "%s") % peer[0]
        log.write(" ".join([proto, what, "%s:%d" % (host, peer[1])] +
                           [str(d) for d in detail]) + "\n")

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.sni_callback = lambda sock, name, _ctx: event(
    "https", "sni", sock.getpeername(), name)

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"       # keep-alive
    timeout = 30                        # no thread outlives a test run

    def setup(self):
        event(self.server.proto, "conn", self.client_address)
        if self.server.proto == "https":
            self.request = ctx.wrap_socket(self.request, server_side=True)
        super().setup()

    def handle(self):
        super().handle()
        event(self.server.proto, "close", self.client_address)

    def do_GET(self):
        event(self.server.proto, "req", self.client_address, self.command,
              self.path)
        body = ("%s %s\n" % (self.server.proto, self.path)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_DELETE = do_POST = do_GET

    def log_message(self, fmt, *args):
        pass

class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, peer):
        err = sys.exc_info()[1]
        what = "reset" if isinstance(err, ConnectionResetError) else "error"
        event(self.proto, what, peer, type(err).__name__)

class Server6(Server):
    address_family = socket.AF_INET6

for addr in addrs.split(","):
    for proto, port in (("http", http_port), ("https", tls_port)):
        srv = (Server6 if ":" in addr else Server)((addr, int(port)),
                                                   Handler)
        srv.proto = proto
        threading.Thread(target=srv.serve_forever, daemon=True).start()
print("ready", flush=True)
threading.Event().wait(600)     # never outlives a forgotten test run
"""


Segment = collections.namedtuple(
    "Segment", "src sport dst dport seq ack flags payload")
SYN, RST, RST_ACK = 0x02, 0x04, 0x14
SNIFF_MAX = 20000       # frames kept per interface


def parse_tcp(frame):
    """A Segment for an untagged IPv4/IPv6 TCP frame, else None."""
    ethertype = frame[12:14]
    if ethertype == b"\x08\x00" and len(frame) >= 34 and frame[23] == 6:
        ihl = (frame[14] & 0xf) * 4
        total = struct.unpack("!H", frame[16:18])[0]
        src = socket.inet_ntop(socket.AF_INET, frame[26:30])
        dst = socket.inet_ntop(socket.AF_INET, frame[30:34])
        l4, end = 14 + ihl, 14 + total
    elif ethertype == b"\x86\xdd" and len(frame) >= 54 and frame[20] == 6:
        src = socket.inet_ntop(socket.AF_INET6, frame[22:38])
        dst = socket.inet_ntop(socket.AF_INET6, frame[38:54])
        l4, end = 54, 54 + struct.unpack("!H", frame[18:20])[0]
    else:
        return None
    if len(frame) < l4 + 20:
        return None
    sport, dport, seq, ack, off, flags = struct.unpack(
        "!HHIIBB", frame[l4:l4 + 14])
    return Segment(src, sport, dst, dport, seq, ack, flags,
                   frame[l4 + (off >> 4) * 4:end])


class Sniffer:
    """Every TCP segment sent or received on one interface of a
    namespace, from start() until stop()."""

    def __init__(self, ns, ifname):
        eth_p_all = 3

        def make():
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                 socket.htons(eth_p_all))
            sock.bind((ifname, eth_p_all))
            sock.settimeout(0.1)
            return sock
        self.sock = netns.in_netns(ns.name, make)
        self.segments = []
        self.done = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.done and len(self.segments) < SNIFF_MAX:
            try:
                seg = parse_tcp(self.sock.recv(65535))
            except socket.timeout:
                continue
            if seg is not None:
                self.segments.append(seg)
        self.sock.close()

    def stop(self):
        self.done = True
        self.thread.join(2)

    def of(self, client, port, peer):
        """The segments of the client's last connection from `port` to
        `peer` (address, port), from its SYN on: the kernel may give the
        same local port to connections to other services, and to this
        one again once a reset connection is gone."""
        tup = (client, port) + tuple(peer)
        segs = [s for s in list(self.segments)
                if (s.src, s.sport, s.dst, s.dport) == tup or
                (s.dst, s.dport, s.src, s.sport) == tup]
        syns = [i for i, s in enumerate(segs)
                if (s.src, s.sport) == (client, port) and s.flags & SYN]
        return segs[syns[-1]:] if syns else segs


class Curl:
    """One curl run: rc, stderr (verbose), and per transfer the HTTP code,
    the client's port and the body."""
    MARK = re.compile(r"<<(\d{3}) (\d+)>>\n")

    def __init__(self, proc):
        self.rc, self.stderr = proc.returncode, proc.stderr
        parts = self.MARK.split(proc.stdout)
        self.transfers = [(parts[i + 1], int(parts[i + 2]), parts[i])
                          for i in range(0, len(parts) - 2, 3)]

    def __repr__(self):
        return "curl rc %s, transfers %s\n%s" % (self.rc, self.transfers,
                                                 self.stderr)

    def reset(self, rc):
        """The transfer ended with exit code `rc` and a reset."""
        return self.rc == rc and re.search(r"reset", self.stderr, re.I)


class L7E2E(GatewayEnv):
    """The topology, the backend and the gateway of this module."""

    def __init__(self, binary, tmp):
        super().__init__(binary, tmp)
        self.conf = self.tmp / "l7_e2e.conf"
        self.backend_log = self.tmp / "backend-events.log"
        self.expected = collections.Counter()   # what the tests caused
        self.sniffers = {}        # role: Sniffer on its eth0

    # ---------------------------------------------------------- set-up

    def build(self):
        t = self.topo
        sw, _ = self.switch(GW_MAC)
        # every multicast frame (ND) flooded, whoever reported what
        sw.ip("link", "set", "br0", "type", "bridge", "mcast_snooping", "0")
        cli = t.add("cli", ipv6=True)
        t.attach(cli, sw, mac=CLI_MAC, addrs=[CLI4 + "/24"],
                 routes=[("198.19.0.0/16", GW_ADDRS["cli"])])
        b1 = t.add("b1", ipv6=True, hosts={B1: "b1", B1_6: "b1"})
        t.attach(b1, sw, mac=B1_MAC, addrs=[B1 + "/24"],
                 routes=[("default", GW_ADDRS["mesh"])])
        # IPv6: no duplicate address detection to wait for
        for ns, addr, prefix, via in (
                (cli, CLI6, WEB_VIP6 + "/128", GW_ADDRS6["cli"]),
                (b1, B1_6, "default", GW_ADDRS6["mesh"])):
            ns.ip("addr", "add", addr + "/64", "dev", "eth0", "nodad")
            ns.ip("-6", "route", "add", prefix, "via", via)

    def make_certificate(self):
        """A self-signed certificate for every name the tests use."""
        for tool in ("openssl", "curl"):
            assert shutil.which(tool), "%s is not installed " \
                "(scripts/install-deps.sh installs it)" % tool
        self.cert_path = self.tmp / "cert.pem"
        self.key_path = self.tmp / "key.pem"
        netns.sh(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                  "-subj", "/CN=api.example", "-addext",
                  "subjectAltName=DNS:api.example,DNS:evil.example,"
                  "DNS:other.example",
                  "-keyout", self.key_path, "-out", self.cert_path])

    def start_backend(self):
        self.topo["b1"].serve(
            ["/usr/bin/python3", "-u", "-c", BACKEND, B1 + "," + B1_6,
             self.backend_log, self.cert_path, self.key_path,
             HTTP_BACKEND_PORT, TLS_BACKEND_PORT],
            self.tmp / "backend.out", timeout=SERVER_READY_S)

    def start_sniffers(self):
        for role in ("cli", "b1"):
            self.sniffers[role] = Sniffer(self.topo[role], "eth0")

    def close(self):
        for sniffer in self.sniffers.values():
            sniffer.stop()
        super().close()

    # ----------------------------------------------------------- tools

    def counters(self):
        """{"drop:REASON": n} for every l7_* reason and {"RULE:DECISION":
        n} for every rule of the config (absent rules count 0)."""
        assert self.proc.poll() is None, "meshgate exited:\n" + self.log()
        out = collections.Counter()
        drops = mg_telemetry.query(self.prefix, "/meshgate/stats")["drops"]
        for reason in drop_reasons("l7_"):
            assert reason in drops, "no drop reason %r in telemetry" % reason
            out["drop:" + reason] = drops[reason]
        policies = mg_telemetry.query(self.prefix, "/meshgate/policies")
        for entry in (policies or {}).values():
            assert entry["rule"] in RULES, "unknown rule %s" % entry
            for decision in DECISIONS:
                out["%s:%s" % (entry["rule"], decision)] = entry[decision]
        return out

    def expect(self, before, **want):
        """The counters moved from `before` by exactly `want` (keys
        drop_REASON or RULE_DECISION with '-' as '_'); every other l7_*
        drop and rule decision stayed. Waits (bounded) for the worker."""
        want = collections.Counter({self.counter_key(k): v
                                    for k, v in want.items()})
        last = {}

        def moved():
            now = self.counters()
            keys = set(now) | set(before) | set(want)
            last["delta"] = {k: now[k] - before[k] for k in keys
                             if now[k] != before[k]}
            return last["delta"] == dict(want)
        try:
            wait_for(moved, COUNTERS_S, "counters", interval=0.1)
        except AssertionError:
            pytest.fail("counters moved by %s, expected %s" % (
                last["delta"], dict(want)), pytrace=False)
        self.expected.update(want)

    @staticmethod
    def counter_key(name):
        if name.startswith("drop_"):
            return "drop:" + name[len("drop_"):]
        for rule in sorted(RULES, key=len, reverse=True):
            flat = rule.replace("-", "_")
            if name.startswith(flat + "_"):
                return "%s:%s" % (rule, name[len(flat) + 1:])
        raise KeyError(name)

    def backend(self, peer_port, proto="http", v6=False):
        """The backend's events for the client's last connection from
        port `peer_port` (the kernel may give a port again once a reset
        connection is gone): [(event, detail)] from its "conn" on."""
        peer = ("[%s]:%d" if v6 else "%s:%d") % (CLI6 if v6 else CLI4,
                                                 peer_port)
        out = []
        for line in self.backend_log.read_text().splitlines():
            words = line.split(" ", 3)
            if words[0] == proto and words[2] == peer:
                if words[1] == "conn":
                    out = []
                out.append((words[1], words[3] if len(words) > 3 else ""))
        return out

    def backend_reset(self, peer_port, proto="http", v6=False):
        """Waits (bounded) for the backend to see the connection from
        `peer_port` reset; returns its events."""
        last = {}

        def reset():
            last["events"] = self.backend(peer_port, proto, v6)
            return any(e == "reset" for e, _ in last["events"])
        try:
            wait_for(reset, BACKEND_S, "backend reset", interval=0.05)
        except AssertionError:
            pytest.fail("the backend never saw the connection from port %d "
                        "reset; its events: %s" % (peer_port,
                                                   last["events"]),
                        pytrace=False)
        return last["events"]

    def curl(self, *args, max_time=CURL_S):
        proc = self.topo["cli"].run(
            ["curl", "-sS", "-v", "-g", "--noproxy", "*", "--max-time",
             max_time,
             "-w", "<<%{http_code} %{local_port}>>\n"] + list(args),
            timeout=max_time + 5)
        return Curl(proc)

    def split_request(self, first, second):
        """One connection to web from a socket in the client namespace
        with Nagle off: `first`, a pause, `second` (two TCP segments),
        then read until the server closes or resets. Returns (client
        port, bytes received, the exception that ended it or None)."""
        sock = self.topo["cli"].socket()
        with sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(CURL_S)
            sock.connect((WEB_VIP, WEB_PORT))
            port = sock.getsockname()[1]
            sock.sendall(first)
            time.sleep(SPLIT_PAUSE_S)
            sock.sendall(second)
            data = b""
            try:
                for _ in range(64):
                    chunk = sock.recv(4096)
                    if not chunk:
                        return port, data, None
                    data += chunk
            except OSError as err:     # reset or timeout
                return port, data, err
            return port, data, None


@pytest.fixture(scope="module")
def l7(meshgate_bin, tmp_path_factory):
    env = L7E2E(meshgate_bin, tmp_path_factory.mktemp("l7e2e"))
    try:
        env.build()
        env.make_certificate()
        env.start_backend()
        env.start_sniffers()
        shutil.copy(CONFIG, env.conf)
        env.start_gateway(env.conf, ready_s=READY_S)
        yield env
        # whichever tests ran (-k), the gateway leaked nothing
        env.check_shutdown()
    finally:
        env.close()


WEB = "http://%s" % WEB_VIP
WEBS = {False: WEB, True: "http://[%s]" % WEB_VIP6}
FAMILIES = pytest.mark.parametrize("v6", [False, True], ids=["ipv4", "ipv6"])


def requests_seen(env, port, proto="http", v6=False):
    return [detail for event, detail in env.backend(port, proto, v6)
            if event == "req"]


def check_resets(env, port, v6=False, tls=False):
    """The client's connection from `port` ended as a denied one must:
    the gateway dropped the client's last data segment (the one that
    completed the denied head), answered it with one RST|ACK to the
    client (from the virtual address and port, seq = the segment's ack,
    ack = its seq + length) and sent one RST|ACK to the backend (from the
    client, seq = the segment's seq, ack = its ack), and nothing else
    was sent on that connection afterwards. Seen on the wire, on the
    client's and the backend's interfaces."""
    client, vip, backend = (CLI6, WEB_VIP6, B1_6) if v6 else \
        (CLI4, WEB_VIP, B1)
    vport, bport = (TLS_PORT, TLS_BACKEND_PORT) if tls else \
        (WEB_PORT, HTTP_BACKEND_PORT)
    if tls:
        vip = TLS_VIP
    last = {}

    def both_reset():
        last["cli"] = env.sniffers["cli"].of(client, port, (vip, vport))
        last["b1"] = env.sniffers["b1"].of(client, port, (backend, bport))
        return any(s.flags & RST and s.dport == port for s in last["cli"]) \
            and any(s.flags & RST and s.sport == port for s in last["b1"])
    try:
        wait_for(both_reset, BACKEND_S, "resets on the wire")
    except AssertionError:
        pytest.fail("no reset both ways on the wire for port %d:\n"
                    "client side %s\nbackend side %s" % (
                        port, last["cli"], last["b1"]), pytrace=False)
    cli, b1 = last["cli"], last["b1"]
    sent = [s for s in cli if s.sport == port and s.payload]
    assert sent, cli
    denied = sent[-1]
    want_cli = Segment(vip, vport, client, port, denied.ack,
                       (denied.seq + len(denied.payload)) & 0xffffffff,
                       RST_ACK, b"")
    want_b1 = Segment(client, port, backend, bport, denied.seq, denied.ack,
                      RST_ACK, b"")
    got_cli = [s for s in cli if s.dport == port and s.flags & RST]
    got_b1 = [s for s in b1 if s.sport == port and s.flags & RST]
    assert got_cli == [want_cli], "to the client: %s, want %s\n%s" % (
        got_cli, want_cli, cli)
    assert got_b1 == [want_b1], "to the backend: %s, want %s\n%s" % (
        got_b1, want_b1, b1)
    assert not [s for s in b1 if s.sport == port and
                s.seq == denied.seq and s.payload], \
        "the denied segment reached the backend: %s" % b1
    assert cli[-1] == want_cli, "the client sent after the reset: %s" % cli
    assert b1[-1] == want_b1, "the backend side moved after the reset: " \
        "%s" % b1


# ---------------------------------------------------------------- HTTP

@FAMILIES
def test_allowed_get(l7, v6):
    """GET /api/x from the client: web-api allows it, the backend answers."""
    before = l7.counters()
    r = l7.curl(WEBS[v6] + "/api/x")
    assert r.rc == 0 and len(r.transfers) == 1, r
    code, port, body = r.transfers[0]
    assert code == "200" and body == "http /api/x\n", r
    assert requests_seen(l7, port, v6=v6) == ["GET /api/x"]
    l7.expect(before, web_api_allow=1)


@FAMILIES
def test_denied_path_resets(l7, v6):
    """GET /admin: the client's connection is reset (curl exit 56), the
    backend's too, and the backend never reads the request."""
    before = l7.counters()
    r = l7.curl(WEBS[v6] + "/admin")
    assert r.reset(56), r
    port = r.transfers[0][1]
    events = l7.backend_reset(port, v6=v6)
    assert ("conn", "") in events, events
    assert requests_seen(l7, port, v6=v6) == [], events
    check_resets(l7, port, v6=v6)
    l7.expect(before, drop_l7_deny=1, web_no_admin_deny=1)


@FAMILIES
def test_denied_path_normal_forms(l7, v6):
    """GET /admin?x and /admin;x/y: ^/admin(/|$) sees /admin in both (the
    path ends at '?'; a path with ";params" is read without them too),
    so each connection is reset both ways and the backend never reads
    the request."""
    before = l7.counters()
    for path in ("/admin?x", "/admin;x/y"):
        r = l7.curl(WEBS[v6] + path)
        assert r.reset(56), (path, r)
        assert "> GET %s HTTP/1.1" % path in r.stderr, r
        port = r.transfers[0][1]
        events = l7.backend_reset(port, v6=v6)
        assert requests_seen(l7, port, v6=v6) == [], (path, events)
        check_resets(l7, port, v6=v6)
    l7.expect(before, drop_l7_deny=2, web_no_admin_deny=2)


def test_denied_host_normal_forms(l7):
    """curl -H 'Host: Admin.Example:80' (and 'admin.example.') on a path
    the client may GET: the host rule sees admin.example, so the request
    is reset both ways; the same path with Host api.example passes."""
    before = l7.counters()
    for host in ("Admin.Example:80", "admin.example."):
        r = l7.curl("-H", "Host: " + host, WEB + "/api/x")
        assert r.reset(56), (host, r)
        assert "> Host: %s" % host in r.stderr, r
        port = r.transfers[0][1]
        events = l7.backend_reset(port)
        assert requests_seen(l7, port) == [], (host, events)
        check_resets(l7, port)
    r = l7.curl("-H", "Host: API.Example:80", WEB + "/api/x")
    assert r.rc == 0 and [t[0] for t in r.transfers] == ["200"], r
    l7.expect(before, drop_l7_deny=2, web_no_admin_host_deny=2,
              web_api_allow=1)


def test_h2c_upgrade_denied(l7):
    """curl --http2 on http:// asks to upgrade an allowed GET /api/x to
    h2c: no rule allows an upgrade, so it is refused (l7_upgrade_deny,
    counted against the default deny) and reset both ways before the
    backend reads it."""
    before = l7.counters()
    r = l7.curl("--http2", WEB + "/api/x")
    assert r.reset(56), r
    assert "> Upgrade: h2c" in r.stderr, r
    port = r.transfers[0][1]
    events = l7.backend_reset(port)
    assert requests_seen(l7, port) == [], events
    check_resets(l7, port)
    l7.expect(before, drop_l7_upgrade_deny=1, default_deny_deny=1)


def test_default_deny(l7):
    """Requests no rule allows (another path; /api/ with another method)
    are denied by default, with the same resets."""
    before = l7.counters()
    for args in ((WEB + "/other",), ("-X", "DELETE", WEB + "/api/x")):
        r = l7.curl(*args)
        assert r.reset(56), (args, r)
        port = r.transfers[0][1]
        l7.backend_reset(port)
        assert requests_seen(l7, port) == [], args
        check_resets(l7, port)
    l7.expect(before, drop_l7_deny=2, default_deny_deny=2)


def test_keep_alive_second_request_denied(l7):
    """One connection, two requests: /api/a is answered, /admin on the
    same connection resets it; the backend saw only the first. curl
    retries a request whose reused connection died before any answer
    once, on a fresh connection: that one is reset too."""
    before = l7.counters()
    r = l7.curl(WEB + "/api/a", WEB + "/admin")
    assert len(r.transfers) == 2, r
    (code1, port1, body1), (code2, port2, _) = r.transfers
    assert code1 == "200" and body1 == "http /api/a\n", r
    # the reused connection #0 carried /admin and was reset, then curl's
    # one retry on connection #1 was reset as well
    assert re.search(r"Re-using existing connection #0 .*\n"
                     r"> GET /admin HTTP/1\.1\n(> .*\n)*"
                     r"\* Recv failure: Connection reset by peer\n"
                     r"\* Connection died, retrying a fresh connect",
                     r.stderr), r
    assert code2 == "000" and port2 != port1 and r.reset(56), r
    events = l7.backend_reset(port1)
    assert requests_seen(l7, port1) == ["GET /api/a"], events
    events = l7.backend_reset(port2)
    assert requests_seen(l7, port2) == [], events
    for port in (port1, port2):
        check_resets(l7, port)
    l7.expect(before, drop_l7_deny=2, web_api_allow=1, web_no_admin_deny=2)


def test_split_request_line_denied(l7):
    """"GET /ad" and "min HTTP/1.1..." in two segments: the first is
    forwarded (it decides nothing), the second completes a denied head:
    reset both ways, the backend never sees a request."""
    before = l7.counters()
    port, data, err = l7.split_request(
        b"GET /ad", b"min HTTP/1.1\r\nHost: x\r\n\r\n")
    assert isinstance(err, ConnectionResetError), (data, err)
    assert data == b"", data
    events = l7.backend_reset(port)
    assert requests_seen(l7, port) == [], events
    check_resets(l7, port)
    first = [s for s in l7.sniffers["b1"].of(CLI4, port,
                                             (B1, HTTP_BACKEND_PORT))
             if s.payload == b"GET /ad"]
    assert first, "the first half did not reach the backend"
    l7.expect(before, drop_l7_deny=1, web_no_admin_deny=1)


def test_split_request_line_allowed(l7):
    """The same split for an allowed path is reassembled and answered."""
    before = l7.counters()
    port, data, err = l7.split_request(
        b"GET /ap", b"i/split HTTP/1.1\r\nHost: x\r\nConnection: close"
        b"\r\n\r\n")
    assert err is None, (data, err)
    assert re.match(rb"HTTP/1\.1 200 ", data), data
    assert data.endswith(b"\r\n\r\nhttp /api/split\n"), data
    assert requests_seen(l7, port) == ["GET /api/split"]
    l7.expect(before, web_api_allow=1)


# ----------------------------------------------------------------- TLS

def tls_curl(env, name):
    return env.curl("-k", "--resolve", "%s:%d:%s" % (name, TLS_PORT,
                                                     TLS_VIP),
                    "https://%s/" % name)


def test_tls_allowed_sni(l7):
    """SNI api.example: the ClientHello is allowed, the rest of the
    handshake and the request pass."""
    before = l7.counters()
    r = tls_curl(l7, "api.example")
    assert r.rc == 0 and len(r.transfers) == 1, r
    code, port, body = r.transfers[0]
    assert code == "200" and body == "https /\n", r
    events = l7.backend(port, "https")
    assert ("sni", "api.example") in events, events
    assert requests_seen(l7, port, "https") == ["GET /"], events
    l7.expect(before, api_sni_allow=1)


@pytest.mark.parametrize("name,rule", [("evil.example", "evil_sni"),
                                       ("other.example", "default_deny")])
def test_tls_denied_sni(l7, name, rule):
    """SNI evil.example (a deny rule) or other.example (no rule): the
    handshake is reset (curl exit 35), the backend never reads the
    ClientHello and sees its connection reset."""
    before = l7.counters()
    r = tls_curl(l7, name)
    assert r.reset(35), r
    port = r.transfers[0][1]
    events = l7.backend_reset(port, "https")
    assert not [e for e in events if e[0] in ("sni", "req")], events
    check_resets(l7, port, tls=True)
    l7.expect(before, drop_l7_deny=1, **{rule + "_deny": 1})


def test_tls_no_sni_denied(l7):
    """https://198.19.0.21/: curl sends no SNI to an address, and no rule
    allows a ClientHello without one (allow_no_sni): reset (curl exit
    35) as l7_no_sni against the default deny; the backend never reads
    the hello."""
    before = l7.counters()
    r = l7.curl("-k", "https://%s/" % TLS_VIP)
    assert r.reset(35), r
    port = r.transfers[0][1]
    events = l7.backend_reset(port, "https")
    assert not [e for e in events if e[0] in ("sni", "req")], events
    check_resets(l7, port, tls=True)
    l7.expect(before, drop_l7_no_sni=1, default_deny_deny=1)


# ------------------------------------------------------------- the end

def read_response(sock, body):
    """Bytes from `sock` until `body` (the end of the backend's reply)
    arrived; bounded by the socket's timeout and 64 reads."""
    data = b""
    for _ in range(64):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
        if data.endswith(body):
            break
    return data


def reload_config(env, text):
    """Writes the gateway's config file whole, sends SIGHUP and waits
    (bounded) for the reload's outcome in the log: True when the new
    ruleset is in force, False when it was rejected."""
    before = len(env.log())
    tmp = env.conf.with_suffix(".new")
    tmp.write_text(text)
    tmp.replace(env.conf)           # never a half-written file
    env.proc.send_signal(signal.SIGHUP)
    outcome = re.compile(r"new ruleset in force|rejected; the running "
                         r"config stays")
    found = wait_for(lambda: outcome.search(env.log()[before:]), RELOAD_S,
                     "the reload's outcome in the log")
    return found.group(0) == "new ruleset in force", env.log()[before:]


def test_reload_applies_to_live_connections(l7):
    """SIGHUP with a rule denying /api/b: the next request of a keep-alive
    connection opened before the reload is decided by the new rules (reset
    both ways) while /api/a still passes on a new connection; then a file
    whose pattern Hyperscan refuses is rejected at its FILE:LINE, the
    gateway keeps running and the rules in force stay."""
    good = CONFIG.read_text()
    deny_b = good.replace(
        "policies = (\n",
        'policies = (\n\t{ name = "web-no-b"; action = "deny"; '
        'from = ["*"]; to = ["web"];\n\t  http = { path = "^/api/b"; }; '
        '},\n', 1)
    assert deny_b != good
    before = l7.counters()
    sock = l7.topo["cli"].socket()
    with sock:
        sock.settimeout(CURL_S)
        sock.connect((WEB_VIP, WEB_PORT))
        port = sock.getsockname()[1]
        sock.sendall(b"GET /api/a HTTP/1.1\r\nHost: x\r\n\r\n")
        data = read_response(sock, b"http /api/a\n")
        assert re.match(rb"HTTP/1\.1 200 ", data), data
        ok, log = reload_config(l7, deny_b)
        assert ok, log
        sock.sendall(b"GET /api/b HTTP/1.1\r\nHost: x\r\n\r\n")
        with pytest.raises(ConnectionResetError):
            read_response(sock, b"http /api/b\n")
    l7.backend_reset(port)
    assert requests_seen(l7, port) == ["GET /api/a"]
    r = l7.curl(WEB + "/api/a")
    assert r.rc == 0 and [t[0] for t in r.transfers] == ["200"], r
    l7.expect(before, web_api_allow=2, web_no_b_deny=1, drop_l7_deny=1)

    before = l7.counters()
    broken = deny_b.replace('path = "^/api/b";', 'path = "^/api/(b";')
    ok, log = reload_config(l7, broken)
    assert not ok, log
    assert re.search(re.escape(str(l7.conf)) + r":\d+: policy 'web-no-b': "
                     r"http\.path pattern '\^/api/\(b': ", log), log
    assert l7.proc.poll() is None, "a bad reload stopped meshgate"
    r = l7.curl(WEB + "/api/b")
    assert r.rc == 56, r                # still denied: reset
    l7.expect(before, web_no_b_deny=1, drop_l7_deny=1)
    ok, log = reload_config(l7, good)
    assert ok, log


def test_zz_totals_and_clean_shutdown(l7):
    """Last: the totals are what the tests above caused (telemetry, then
    --stats-json after SIGINT), the gateway exits cleanly and no mbuf
    leaked. No connection was retransmitted into after its reset (the
    resets carried acceptable sequence numbers): l7_reset stays 0. The
    counters are read first, then the gateway is stopped and its pool
    checked, then the totals are compared."""
    expected = collections.Counter(l7.expected)
    now = l7.counters()
    # exit 0, no sanitizer report, --stats-json written, no mbuf leaked
    stats, log = l7.check_shutdown()
    assert expected["drop:l7_deny"] > 0, "no test before this one passed"
    got = {k: v for k, v in now.items() if v}
    assert got == {k: v for k, v in expected.items() if v}, \
        "telemetry totals %s, the tests caused %s" % (got, dict(expected))
    for reason in drop_reasons("l7_"):
        assert stats["drops"].get(reason) == expected["drop:" + reason], \
            (reason, stats["drops"])
    assert stats["drops_total"] == sum(stats["drops"].values())
