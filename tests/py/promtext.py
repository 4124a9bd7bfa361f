# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""The Prometheus text exposition, as the tests read /metrics: one strict
parser (Exposition: every line a comment or a well-formed sample, label
values unescaped) and promtool's own check. Every test that reads
/metrics goes through here (scripts/demo_live.py too)."""

import re
import shutil
import subprocess

PROMTOOL = "/usr/bin/promtool"

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?"
                    r"[ \t]+(\S+)(?:[ \t]+-?\d+)?$")
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\\n]|'
                   r'\\.)*)"\s*(?:,|$)')


def unescape(value):
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n"
                  else m.group(1), value)


def parse_labels(text):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        assert m, "bad label set %r" % text
        assert m.group(1) not in labels, "label twice in %r" % text
        labels[m.group(1)] = unescape(m.group(2))
        pos = m.end()
    return labels


class Exposition:
    """The samples of one scrape: [(name, {labels}, value)]."""

    def __init__(self, text):
        self.text = text
        self.samples = []
        self.types = {}
        for line in text.splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(None, 3)
                self.types[name] = kind
            if not line or line.startswith("#"):
                continue
            m = SAMPLE.match(line)
            assert m, "not a sample line: %r" % line
            self.samples.append((m.group(1), parse_labels(m.group(2) or ""),
                                 float(m.group(3))))

    def select(self, name, **labels):
        """[(labels, value)] of `name` whose labels include `labels`."""
        return [(lab, v) for n, lab, v in self.samples if n == name and
                all(lab.get(k) == want for k, want in labels.items())]

    def value(self, name, **labels):
        """The one sample of `name` with exactly `labels`, else None."""
        hits = [v for n, lab, v in self.samples
                if n == name and lab == labels]
        assert len(hits) <= 1, "%s%s twice" % (name, labels)
        return hits[0] if hits else None

    def series(self, name, keys):
        """{tuple of label values: value} of a family keyed by `keys`."""
        out = {}
        for lab, v in self.select(name):
            key = tuple(lab.get(k) for k in keys)
            out[key] = out.get(key, 0) + v
        return out

def promtool_check(body):
    """promtool check metrics on an exposition: (ok, what it said). The
    Debian package must be there: a missing promtool fails the test."""
    assert shutil.which(PROMTOOL), \
        "%s missing: scripts/install-deps.sh installs 'prometheus'" % PROMTOOL
    proc = subprocess.run([PROMTOOL, "check", "metrics"], input=body,
                          capture_output=True, timeout=30)
    return proc.returncode == 0, (proc.stdout + proc.stderr).decode()
