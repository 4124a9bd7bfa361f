# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""Command line and configuration checking: exit codes, messages, and the
FILE:LINE: errors of --check-config for every bad file in tests/configs;
EAL failures explained in one line (some in private mount namespaces, one
as an unprivileged user); the memory estimate against what a start-up
allocates; hugepage files released; device locks; log line formats."""

import datetime
import fcntl
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from mgrun import (CONFIGS, REPO, drop_reasons, mg_telemetry, pcap_vdev,
                   wait_for)

DEFAULT_CONF = REPO / "app" / "meshgate" / "meshgate.conf"
BAD_CONFIGS = sorted(CONFIGS.glob("bad_*.conf"))
GOOD_CONFIGS = sorted(set(CONFIGS.glob("*.conf")) - set(BAD_CONFIGS))
EXPECT = re.compile(r"^#\s*expect:\s*(\d+|\*)\s+(.+?)\s*$")


def expectations(path):
    """[(line or None, [words])] from the file's `# expect: LINE WORDS`
    comments; LINE `*` means any line or none (a missing setting has no
    line, so `FILE: message` is accepted too)."""
    lines = path.read_text().splitlines()
    found = []
    for text in lines:
        m = EXPECT.match(text)
        if not m:
            continue
        line = None if m.group(1) == "*" else int(m.group(1))
        if line is not None:
            # Guard against drift: the line must hold a setting.
            assert 1 <= line <= len(lines), "%s: expect past EOF" % path
            target = lines[line - 1].strip()
            assert target and not target.startswith("#"), \
                "%s: expect points at line %d, not a setting" % (path, line)
        found.append((line, m.group(2).split()))
    assert found, "%s has no '# expect: LINE WORDS' comment" % path
    return found


def test_version(run):
    rc, out, err, _ = run(["-v"])
    assert rc == 0, err
    assert out.strip() == "meshgate 0.1.0"


def test_help(run):
    rc, out, err, _ = run(["-h"])
    assert rc == 0, err
    assert "usage" in out.lower()
    for opt in ("-f", "--check-config", "--exit-on-idle", "--stats-json"):
        assert opt in out


def test_unknown_option(run):
    rc, _, err, _ = run(["-f", str(DEFAULT_CONF), "--frobnicate"])
    assert rc == 2
    assert "--frobnicate" in err


def test_missing_config_option(run):
    rc, _, err, _ = run([])
    assert rc == 2
    assert "-f" in err


@pytest.mark.parametrize("value", ["abc", "-5", "12x", ""])
def test_bad_number(run, value):
    rc, _, err, _ = run(["-f", str(DEFAULT_CONF), "--exit-on-idle", value])
    assert rc == 2
    assert "exit-on-idle" in err


@pytest.mark.parametrize("check", [True, False], ids=["check", "run"])
def test_missing_config_file(run, tmp_path, check):
    missing = tmp_path / "no-such.conf"
    rc, _, err, _ = run(["-f", str(missing)] +
                        (["--check-config"] if check else []))
    assert rc == 1
    assert str(missing) in err


@pytest.mark.parametrize("path", [DEFAULT_CONF] + GOOD_CONFIGS,
                         ids=lambda p: p.name)
def test_check_config_valid(run, path):
    """Valid: exit 0 and no error; a warning (a backend no port can
    reach, which the bundled config and its dry-run variant keep on
    purpose) is not an error; the memory the file needs is printed."""
    # the benchmark configs hold 131,071 mbufs: 512 MiB in 4 KiB pages
    rc, out, err, _ = run(["-f", str(path), "--check-config"], mem=1024)
    assert rc == 0, err
    errors = [line for line in err.splitlines()
              if line.startswith(str(path) + ":") and
              ": warning: " not in line]
    assert not errors, "a valid file gave errors: " + err
    assert re.search(r"^%s: needs about \d+ MiB of DPDK memory \(flow "
                     r"table " % re.escape(str(path)), out, re.M), out


@pytest.mark.parametrize("path", BAD_CONFIGS, ids=lambda p: p.name)
def test_check_config_bad(run, path):
    rel = str(path.relative_to(REPO))     # FILE must come back as given
    rc, _, err, _ = run(["-f", rel, "--check-config"], cwd=REPO)
    assert rc == 1, err
    errors = [line for line in err.splitlines() if line.startswith(rel + ":")]
    for line, words in expectations(path):
        if line is None:
            pat = re.compile(re.escape(rel) + r":(\d+:)? ")
        else:
            pat = re.compile(re.escape(rel) + ":%d: " % line)
        hits = [e for e in errors if pat.match(e) and
                all(w.lower() in e.lower() for w in words)]
        assert hits, "no '%s:%s: ...%s...' in stderr:\n%s" % (
            rel, line or "LINE", " ".join(words), err)


def test_check_config_does_not_start_ports(run):
    """The device is checked when ports start, not by --check-config."""
    rc, _, err, _ = run(["-f", str(CONFIGS / "missing_device.conf"),
                         "--check-config"])
    assert rc == 0, err


def test_device_not_found(run, captures, tmp_path):
    vdev = pcap_vdev(0, rx=captures.sample, tx=tmp_path / "out.pcap")
    rc, _, err, _ = run(["-f", str(CONFIGS / "missing_device.conf"),
                         "--exit-on-idle", "300"], vdevs=[vdev])
    assert rc == 1, err                   # an error, not a crash (rc < 0)
    assert "net_pcap5" in err


# ------------------------------------------------ exit codes, every path

@pytest.mark.parametrize("eal,app,status,words", [
    ([], ["-h"], 0, []),
    ([], ["-v"], 0, []),
    ([], ["-f"], 2, ["-f", "needs a value"]),
    ([], ["-f", "x.conf", "--stats-json"], 2, ["--stats-json",
                                                "needs a value"]),
    ([], ["-f", "x.conf", "extra"], 2, ["unexpected argument", "extra"]),
    ([], ["--exit-on-idle", "10"], 2, ["no configuration"]),
    ([], ["-f", "x.conf", "--exit-on-idle", "0"], 2, ["exit-on-idle"]),
    (["--no-such-eal-option"], ["-f", str(DEFAULT_CONF)], 2,
     ["cannot start DPDK", "EAL refused its options"]),
    ([], ["-f", "/nonexistent/x.conf"], 1, ["/nonexistent/x.conf"]),
    ([], ["-f", str(CONFIGS / "bad_range.conf")], 1, ["bad_range.conf:"]),
], ids=["help", "version", "f-no-value", "stats-json-no-value",
        "extra-argument", "no-config", "idle-zero", "eal-bad-option",
        "missing-file", "bad-config"])
def test_exit_status(meshgate_bin, mg, eal, app, status, words):
    """The README's exit statuses: 0 done, 1 config or runtime error, 2
    usage error, EAL's options included; each error names what is
    wrong on stderr."""
    argv = [str(meshgate_bin), "--no-huge", "--no-pci", "-m", "256",
            "--file-prefix", mg.new_prefix()] + eal + ["--"] + app
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL, cwd=REPO)
    assert proc.returncode == status, proc.stderr
    for w in words:
        assert w in proc.stderr, (w, proc.stderr)


def readme_drop_reasons():
    """The telemetry keys the README's "What the parser drops" names, in
    brackets ([`name`] or [`name`, `name`])."""
    text = (REPO / "README.md").read_text()
    section = text.split("\n## What the parser drops\n", 1)[1]
    section = section.split("\n## ", 1)[0]
    names = set()
    for group in re.findall(r"\[(`[a-z0-9_]+`(?:,\s*`[a-z0-9_]+`)*)\]",
                            section):
        names.update(re.findall(r"`([a-z0-9_]+)`", group))
    return names


def test_list_drop_reasons(meshgate_bin):
    """--list-drop-reasons needs neither a config nor EAL: exit 0, one
    name a line, each once, the README's drop list name for name (and
    mgrun.drop_reasons(), which every test reads, is this list)."""
    proc = subprocess.run([str(meshgate_bin), "--list-drop-reasons"],
                          capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL, cwd=REPO)
    assert proc.returncode == 0 and proc.stderr == "", proc
    names = proc.stdout.splitlines()
    assert names, "no drop reason listed"
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", n) for n in names), names
    assert len(set(names)) == len(names), names
    assert "none" not in names and "invalid" not in names, names
    readme = readme_drop_reasons()
    assert set(names) == readme, \
        "README lacks %s; README names %s, which the binary does not" % (
            sorted(set(names) - readme), sorted(readme - set(names)))
    assert tuple(names) == drop_reasons()


# ------------------------------------------------- EAL errors that help

def one_line(err, start):
    """The single stderr line that starts with `start`."""
    lines = [ln for ln in err.splitlines() if ln.startswith(start)]
    assert len(lines) == 1, err
    return lines[0]


def test_lcore_absent(run):
    """-l naming a CPU the machine lacks: a usage error naming the lcore
    and the CPUs there are."""
    absent = os.cpu_count() + 2
    rc, _, err, _ = run(["-f", str(DEFAULT_CONF)], lcores="0,%d" % absent)
    assert rc == 2, err
    line = one_line(err, "meshgate: cannot start DPDK: ")
    present = open("/sys/devices/system/cpu/present").read().strip()
    assert "lcore %d is not a CPU of this machine (CPUs present: %s)" % (
        absent, present) in line, line
    assert "EAL initialisation failed" not in err


def test_file_prefix_in_use(mg, captures):
    """A second process on a running gateway's --file-prefix: exit 1 and
    one line naming the prefix, the pid holding it and the fix; the
    first gateway runs on, undisturbed."""
    vdev = pcap_vdev(0, rx=captures.sample, infinite=True)
    first = mg.start(["-f", str(CONFIGS / "one_arm.conf")], [vdev])
    mg_telemetry.connect_when_ready(mg.prefix, "/meshgate/stats", "rx", 20,
                                    proc=first).close()
    proc = subprocess.run(
        mg.argv(["-f", str(CONFIGS / "one_arm.conf")], [vdev]),
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
        cwd=REPO)
    assert proc.returncode == 1, proc.stderr
    line = one_line(proc.stderr, "meshgate: cannot start DPDK: ")
    assert "--file-prefix %s is in use by pid %d (meshgate)" % (
        mg.prefix, first.pid) in line, line
    assert "--file-prefix of its own" in line
    assert first.poll() is None, "the first gateway stopped"
    wait_for(lambda: mg_telemetry.query(mg.prefix, "/meshgate/stats")["rx"]
             > 0, 10, "the first gateway forwarding")
    rc, log = mg.stop(first)
    assert rc == 0, log


ROOT_WHY = None if os.geteuid() == 0 else \
    "needs root (a private mount namespace for hugetlbfs)"
UNMOUNT_HUGETLBFS = ("awk '$3 == \"hugetlbfs\" {print $2}' /proc/mounts | "
                     "while read -r m; do umount -l \"$m\"; done")


def in_mount_ns(script, *args, timeout=30):
    """`script` (sh) in a private mount namespace of its own: what it
    mounts or unmounts is seen by nothing else and gone when it exits.
    args are $1, $2, ..."""
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         script, "sh"] + [str(a) for a in args], capture_output=True,
        text=True, timeout=timeout, stdin=subprocess.DEVNULL, cwd=REPO)


def hugepage_eal(mg, *extra):
    """EAL options without --no-huge, so that hugepages are needed."""
    return ["--no-pci", "-l", "0,1", "--file-prefix", mg.new_prefix(),
            "--log-level", "lib.*:error"] + list(extra)


@pytest.mark.skipif(ROOT_WHY is not None, reason=str(ROOT_WHY))
def test_hugetlbfs_not_mounted(meshgate_bin, mg):
    """No hugetlbfs mounted (none in this private mount namespace):
    exit 1, one line saying so, how to mount one and --no-huge."""
    argv = [meshgate_bin] + hugepage_eal(mg) + \
        ["--", "-f", DEFAULT_CONF]
    proc = in_mount_ns(UNMOUNT_HUGETLBFS + '; exec "$@"', *argv)
    assert proc.returncode == 1, proc.stderr
    line = one_line(proc.stderr, "meshgate: cannot start DPDK: ")
    assert "no hugetlbfs is mounted" in line, line
    assert "scripts/hugepages.sh" in line and "--no-huge" in line, line


def hugepages_free_mib():
    """Free (unreserved) hugepage memory of the machine, all sizes."""
    total = 0
    base = Path("/sys/kernel/mm/hugepages")
    for d in base.glob("hugepages-*kB"):
        kb = int(d.name[len("hugepages-"):-2])
        free = int((d / "free_hugepages").read_text())
        resv = int((d / "resv_hugepages").read_text())
        total += max(free - resv, 0) * kb // 1024
    return total


@pytest.mark.skipif(ROOT_WHY is not None, reason=str(ROOT_WHY))
def test_too_few_hugepages(meshgate_bin, mg, tmp_path):
    """-m asks more hugepage memory than is free (a hugetlbfs of our own,
    in a private mount namespace): exit 1, one line with the figures
    and the command that reserves more."""
    ask = hugepages_free_mib() + 64
    mnt = tmp_path / "huge"
    mnt.mkdir()
    argv = [meshgate_bin] + hugepage_eal(
        mg, "--huge-dir", mnt, "-m", str(ask)) + \
        ["--", "-f", DEFAULT_CONF]
    proc = in_mount_ns('mount -t hugetlbfs nodev "$1" && shift && '
                       'exec "$@"', mnt, *argv)
    assert proc.returncode == 1, proc.stderr
    line = one_line(proc.stderr, "meshgate: cannot start DPDK: ")
    assert ("too few hugepages: -m %d MiB asked" % ask in line or
            "no hugepages are reserved" in line), line
    assert "scripts/hugepages.sh" in line, line


@pytest.mark.skipif(ROOT_WHY is not None, reason=str(ROOT_WHY))
def test_not_root(meshgate_bin, mg, tmp_path):
    """As an unprivileged user (nobody) with hugepages mounted: exit 1,
    one line saying it is not root and what to do."""
    mnt = tmp_path / "huge"
    mnt.mkdir()
    prefix = mg.new_prefix()
    argv = ["setpriv", "--reuid=nobody", "--regid=nogroup",
            "--clear-groups", meshgate_bin, "--no-pci", "-l", "0,1",
            "--huge-dir", mnt, "--file-prefix", prefix, "--", "-f",
            DEFAULT_CONF]
    try:
        proc = in_mount_ns('mount -t hugetlbfs nodev "$1" && shift && '
                           'exec "$@"', mnt, *argv)
    finally:
        shutil.rmtree("/tmp/dpdk/%s" % prefix, ignore_errors=True)
    assert proc.returncode == 1, proc.stderr
    line = one_line(proc.stderr, "meshgate: cannot start DPDK: ")
    assert line.startswith("meshgate: cannot start DPDK: not root"), line
    assert "run as root" in line and "--no-huge" in line, line


# ------------------------------------------------------ memory, measured

MEM_LINE = re.compile(r"memory: ([\d.]+) MiB estimated \((.*)\), "
                      r"([\d.]+) MiB allocated")
NEED = re.compile(r"needs about (\d+) MiB of DPDK memory \(flow table "
                  r"([\d.]+) MiB.*; (\d+) bytes per connection of "
                  r"flows\.max = (\d+)\)")


def with_flows(tmp_path, n):
    """The bundled config with flows.max = n."""
    text = DEFAULT_CONF.read_text()
    new, k = re.subn(r"(\bmax\s*=\s*)\d+;", r"\g<1>%d;" % n, text, count=1)
    assert k == 1
    path = tmp_path / ("flows-%d.conf" % n)
    path.write_text(new)
    return path


@pytest.mark.parametrize("flows", [1024, 262144])
def test_memory_estimate_is_the_allocation(run, captures, tmp_path, flows):
    """The estimate --check-config prints and start-up checks is what the
    gateway then allocates: allocated <= estimated <= allocated + 5% +
    2 MiB (the estimate counts a second ruleset, built during a reload,
    and rounds the fixed tables up)."""
    conf = with_flows(tmp_path, flows)
    rc, out, err, _ = run(["-f", str(conf), "--check-config"], mem=512)
    assert rc == 0, err
    need = NEED.search(out)
    assert need and int(need.group(4)) == flows, out
    vdev = pcap_vdev(0, rx=captures.sample, tx=tmp_path / "out.pcap")
    rc, _, err, stats = run(["-f", str(conf), "--exit-on-idle", "300"],
                            [vdev], stats=True, mem=512)
    assert rc == 0, err
    m = MEM_LINE.search(err)
    assert m, err
    est, alloc = float(m.group(1)), float(m.group(3))
    assert alloc <= est <= alloc * 1.05 + 2, m.group(0)
    assert abs(est - int(need.group(1))) <= 1, (m.group(0), need.group(0))
    assert stats["mempool"]["in_use"] == 0


def test_huge_flow_table_fails_fast(run, captures, tmp_path):
    """flows.max = 16M cannot fit in -m 256: --check-config and start-up
    both refuse at once (no table allocated), with the figure, its parts
    and the cost per connection."""
    conf = with_flows(tmp_path, 16777216)
    rc, _, err, _ = run(["-f", str(conf), "--check-config"])
    assert rc == 1, err
    need = NEED.search(err)
    assert need, err
    assert int(need.group(1)) > 4096 and int(need.group(4)) == 16777216
    assert "but only 256 MiB can be had (--no-huge -m 256)" in err, err
    assert "lower flows.max" in err
    vdev = pcap_vdev(0, rx=captures.sample, tx=tmp_path / "out.pcap")
    start = time.monotonic()
    rc, _, err2, _ = run(["-f", str(conf), "--exit-on-idle", "300"], [vdev],
                         timeout=20)
    elapsed = time.monotonic() - start
    assert rc == 1, err2
    assert elapsed < 10, "took %.1f s to refuse" % elapsed
    need2 = NEED.search(err2)
    assert need2 and need2.group(1) == need.group(1), err2
    assert "but EAL can give only" in err2
    assert "cannot create a flow table" not in err2


# --------------------------------------------- no leftovers, no collisions

HUGE_NEED = 32          # free 2 MiB pages a hugepage run needs here
HUGEPAGES = Path("/sys/kernel/mm/hugepages/hugepages-2048kB")


@pytest.fixture
def free_hugepages():
    """At least HUGE_NEED free 2 MiB hugepages: reserved here when the
    machine has fewer, and given back afterwards (unless someone else
    changed the reservation meanwhile)."""
    nr = HUGEPAGES / "nr_hugepages"

    def free():
        return int((HUGEPAGES / "free_hugepages").read_text()) - \
            int((HUGEPAGES / "resv_hugepages").read_text())
    before = int(nr.read_text())
    added = max(0, HUGE_NEED - free())
    if added:
        nr.write_text(str(before + added))
    try:
        assert free() >= HUGE_NEED, "cannot reserve %d hugepages" % HUGE_NEED
        yield
    finally:
        if added and int(nr.read_text()) == before + added:
            nr.write_text(str(before))


# Mounts a hugetlbfs of its own, starts the gateway, waits for the test
# (a line on stdin), then shows the mount's files and the KiB its pages
# hold, signals the gateway, and shows them again.
HUGE_RUN = r"""
dir=$1 sig=$2; shift 2
mount -t hugetlbfs -o size=256M nodev "$dir" || exit 90
"$@" & pid=$!
read -r _
echo "during $(ls "$dir" | wc -l) $(df -k --output=used "$dir" | tail -1)"
kill -"$sig" "$pid"; wait "$pid"; echo "rc $?"
echo "after $(ls "$dir" | wc -l) $(df -k --output=used "$dir" | tail -1)"
"""


@pytest.mark.skipif(ROOT_WHY is not None, reason=str(ROOT_WHY))
@pytest.mark.parametrize("sig,eal,left", [
    ("INT", [], False), ("KILL", [], False),
    ("INT", ["--huge-unlink=never"], True)],
    ids=["stopped", "killed", "operator-keeps-files"])
def test_hugepage_files_released(meshgate_bin, mg, captures, tmp_path,
                                 free_hugepages, sig, eal, left):
    """On hugepages (a hugetlbfs of the test's own, in a private mount
    namespace), the gateway's pages are in use while it runs but no file
    names them (it passes --huge-unlink to EAL), so nothing stays pinned
    after it stops — by SIGINT or by SIGKILL. An explicit
    --huge-unlink=never is the operator's choice: the files stay (which
    shows the check sees them)."""
    mnt = tmp_path / "huge"
    mnt.mkdir()
    conf = tmp_path / "quiet.conf"
    conf.write_text((CONFIGS / "one_arm.conf").read_text() +
                    'telemetry = { listen = "off"; };\n')
    prefix = mg.new_prefix()
    argv = [meshgate_bin, "--no-pci", "-l", "0,1", "--huge-dir", mnt,
            "--file-prefix", prefix, "--log-level", "lib.*:error",
            "--vdev", pcap_vdev(0, rx=captures.sample, infinite=True)] + \
        eal + ["--", "-f", conf]
    proc = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         HUGE_RUN, "sh", str(mnt), sig] + [str(a) for a in argv],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        mg_telemetry.connect_when_ready(prefix, "/meshgate/stats", "rx", 20,
                                        proc=proc).close()
        out, err = proc.communicate("go\n", timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    during = re.search(r"^during (\d+)\s+(\d+)$", out, re.M)
    after = re.search(r"^after (\d+)\s+(\d+)$", out, re.M)
    assert during and after, out + err
    assert int(during.group(2)) > 0, "no hugepage in use:\n" + err
    if sig == "INT":
        assert re.search(r"^rc 0$", out, re.M), out + err
    if left:
        assert int(during.group(1)) > 0 and int(after.group(1)) > 0, out
        assert int(after.group(2)) > 0, out
    else:
        assert (during.group(1), after.group(1)) == ("0", "0"), out
        assert after.group(2) == "0", "pages still pinned:\n" + out


def test_device_lock_pci(meshgate_bin, mg, tmp_path):
    """A port on a PCI device whose lock another gateway holds (this test
    holds it, as a gateway would): exit 1 before EAL starts, naming the
    port, the device, the holder's pid and the lock file. The short form
    of the address ("00:1f.6") is the same device as the long one."""
    locks = tmp_path / "locks"
    locks.mkdir()
    conf = tmp_path / "pci.conf"
    conf.write_text('ports = ( { name = "uplink"; device = "00:1f.6"; '
                    'profile = "e1000"; } );\n'
                    'telemetry = { listen = "off"; };\n')
    lock = locks / "pci-0000:00:1f.6.lock"
    with open(lock, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        f.write("%d\n" % os.getpid())
        f.flush()
        proc = subprocess.run(
            mg.argv(["-f", str(conf)], lcores="0"), capture_output=True,
            text=True, timeout=30, stdin=subprocess.DEVNULL, cwd=REPO,
            env=dict(os.environ, MESHGATE_LOCK_DIR=str(locks)))
    assert proc.returncode == 1, proc.stderr
    assert ("meshgate: port uplink: device 00:1f.6 is in use by another "
            "gateway (pid %d, lock %s)" % (os.getpid(), lock)) in \
        proc.stderr, proc.stderr
    assert "EAL:" not in proc.stderr, "EAL started:\n" + proc.stderr
    # released: the next one gets past the lock (and stops later, at
    # the missing device), and removes the lock file when it exits
    proc = subprocess.run(
        mg.argv(["-f", str(conf)], lcores="0"), capture_output=True,
        text=True, timeout=30, stdin=subprocess.DEVNULL, cwd=REPO,
        env=dict(os.environ, MESHGATE_LOCK_DIR=str(locks)))
    assert proc.returncode == 1, proc.stderr
    assert "no DPDK device '00:1f.6'" in proc.stderr, proc.stderr
    assert not lock.exists()


# ------------------------------------------------------------------ logs

STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d) "
                   r"(.*)$")


def run_logged(meshgate_bin, mg, conf, vdev, stderr_path, env=None):
    """A replay whose stderr goes to a file (so that its device and inode
    can be named in JOURNAL_STREAM). Returns (rc, stderr text)."""
    with open(stderr_path, "w") as err:
        proc = subprocess.run(
            mg.argv(["-f", str(conf), "--exit-on-idle", "300"], [vdev],
                    prefix=mg.new_prefix()),
            stdout=subprocess.DEVNULL, stderr=err, timeout=30,
            stdin=subprocess.DEVNULL, cwd=REPO,
            env=dict(os.environ, **(env or {})))
    return proc.returncode, Path(stderr_path).read_text()


def journal_stream(path):
    st = os.stat(path)
    return "%d:%d" % (st.st_dev, st.st_ino)


def test_log_lines_timestamped(meshgate_bin, mg, captures, tmp_path):
    """Every line meshgate's log writes carries an RFC 3339 timestamp
    (local time, milliseconds, offset) taken during the run; a
    JOURNAL_STREAM that is not this stderr (redirected elsewhere by the
    service) changes nothing."""
    vdev = pcap_vdev(0, rx=captures.sample, tx=tmp_path / "out.pcap")
    errf = tmp_path / "stderr.log"
    errf.write_text("")
    start = time.time()
    rc, err = run_logged(meshgate_bin, mg, CONFIGS / "one_arm.conf", vdev,
                         errf, {"JOURNAL_STREAM": "1:2"})
    end = time.time()
    assert rc == 0, err
    ours = [ln for ln in err.splitlines() if "meshgate: " in ln]
    assert len(ours) >= 4, err
    for line in ours:
        m = STAMP.match(line)
        assert m, "no timestamp: %r" % line
        when = datetime.datetime.fromisoformat(m.group(1)).timestamp()
        assert start - 1 <= when <= end + 1, line
        assert m.group(2).startswith("meshgate: "), line
    assert any("no packet for 300 ms: stopping" in ln for ln in ours)


def test_log_for_journald(meshgate_bin, mg, captures, tmp_path):
    """Run by systemd with stderr to the journal (JOURNAL_STREAM names
    this stderr): no timestamps (the journal stamps each line) but each
    line opens with the syslog priority journald records: <6> info,
    <3> errors."""
    vdev = pcap_vdev(0, rx=captures.sample, tx=tmp_path / "out.pcap")
    errf = tmp_path / "stderr.log"
    errf.write_text("")
    env = {"JOURNAL_STREAM": journal_stream(errf)}
    rc, err = run_logged(meshgate_bin, mg, CONFIGS / "one_arm.conf", vdev,
                         errf, env)
    assert rc == 0, err
    ours = [ln for ln in err.splitlines() if "meshgate: " in ln]
    assert ours, err
    for line in ours:
        assert not STAMP.match(line), line
        assert re.match(r"^<[0-7]>meshgate: ", line), line
    assert "<6>meshgate: port edge: net_pcap0 is port 0" in err, err
    # an error, at start-up: priority 3
    errf2 = tmp_path / "stderr2.log"
    errf2.write_text("")
    env = {"JOURNAL_STREAM": journal_stream(errf2)}
    rc, err = run_logged(meshgate_bin, mg, with_flows(tmp_path, 16777216),
                         vdev, errf2, env)
    assert rc == 1, err
    assert re.search(r"^<3>meshgate: .*needs about \d+ MiB", err, re.M), err
