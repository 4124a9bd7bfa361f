# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""Fixtures for the packet-level tests: the binary, generated captures and
a per-test meshgate runner that cleans up after itself.

Run with Debian's interpreter (it has scapy):
    /usr/bin/python3 -m pytest tests/py -q
MESHGATE_BIN overrides the binary (default build/app/meshgate)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mgrun  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def test_key_modes():
    """The example configs' test keys (tests/configs/keys) readable by
    their owner only, as meshgate demands of key files: git keeps no such
    mode."""
    for key in (mgrun.CONFIGS / "keys").glob("*.key"):
        os.chmod(key, 0o600)


@pytest.fixture(scope="session")
def meshgate_bin():
    path = mgrun.default_binary()
    if not os.access(path, os.X_OK):
        pytest.fail("meshgate binary %s not found: build it first "
                    "(meson setup build && ninja -C build) or set "
                    "MESHGATE_BIN" % path, pytrace=False)
    return path


class Captures:
    def __init__(self, outdir):
        self.dir = Path(outdir)
        self.sample = self.dir / "sample.pcap"
        self.malformed = self.dir / "malformed.pcap"
        self.bench = self.dir / "bench.pcap"
        with open(self.dir / "malformed.json") as f:
            self.manifest = json.load(f)


@pytest.fixture(scope="session")
def captures(tmp_path_factory):
    """sample, malformed (+ manifest) and bench captures, generated once."""
    outdir = tmp_path_factory.mktemp("pcaps")
    subprocess.run([sys.executable, str(mgrun.REPO / "scripts" /
                                        "gen_pcaps.py"), str(outdir),
                    "--flows", "64"], check=True, timeout=120)
    return Captures(outdir)


@pytest.fixture
def mg(meshgate_bin, tmp_path):
    """A mgrun.Meshgate for this test; kills what it started at the end."""
    runner = mgrun.Meshgate(meshgate_bin, tmp_path)
    yield runner
    runner.close()


@pytest.fixture
def prefix(mg):
    """The unique EAL --file-prefix of this test's background process."""
    return mg.prefix


@pytest.fixture
def run(mg):
    """run(app_args, vdevs=(), lcores="0,1", stats=False) -> Result, which
    unpacks as (rc, stdout, stderr, stats)."""
    return mg.run
