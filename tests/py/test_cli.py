# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""Command line and configuration checking: exit codes, messages, and the
FILE:LINE: errors of --check-config for every bad file in tests/configs."""

import re

import pytest

from mgrun import CONFIGS, REPO, pcap_vdev

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
    purpose) is not an error."""
    rc, out, err, _ = run(["-f", str(path), "--check-config"])
    assert rc == 0, err
    errors = [line for line in err.splitlines()
              if line.startswith(str(path) + ":") and
              ": warning: " not in line]
    assert not errors, "a valid file gave errors: " + err


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
