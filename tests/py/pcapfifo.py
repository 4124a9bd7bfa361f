# SPDX-License-Identifier: BSD-3-Clause
# Copyright (c) 2026 meshgate authors
"""Live captures for net_pcap: a FIFO the gateway reads as a queue's
rx_pcap, fed frame by frame, and the whole records of a tx_pcap that
may still be growing (net_pcap flushes it every burst)."""

import os
import struct
import threading

PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
OPEN_TIMEOUT = 20  # s, for the gateway to open its end


def record(frame):
    return struct.pack("<IIII", 1700000000, 0, len(frame), len(frame)) + \
        frame


class Fifo:
    """A FIFO net_pcap reads as its queue's capture: opened for writing
    (which waits for the reader) and given the pcap header in a thread,
    since EAL opens the files while probing."""

    def __init__(self, path):
        self.path = path
        os.mkfifo(path)
        self.fd = None
        self.opener = threading.Thread(target=self._open, daemon=True)
        self.opener.start()

    def _open(self):
        self.fd = os.open(self.path, os.O_WRONLY)
        os.write(self.fd, PCAP_HEADER)

    def write(self, frames):
        """Frames (bytes) as pcap records, once the reader is there."""
        self.opener.join(OPEN_TIMEOUT)
        assert self.fd is not None, "nobody opened %s" % self.path
        data = b"".join(record(f) for f in frames)
        while data:
            data = data[os.write(self.fd, data):]

    def close(self):
        """EOF for the reader; a writer still waiting for one (the
        gateway never started) is let go by a reader of our own."""
        self.opener.join(1)
        if self.opener.is_alive():
            reader = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
            self.opener.join(5)
            os.close(reader)
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def frames_of(path):
    """The whole records of a pcap that may still be growing."""
    try:
        data = open(path, "rb").read()
    except FileNotFoundError:
        return []
    out, off = [], 24
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        if off + 16 + incl > len(data):
            break
        out.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return out
