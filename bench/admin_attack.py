#!/usr/bin/env python3
"""The attacks of bench/admin-abuse.sh on one admin server on loopback, with
its health and metrics latency, RSS and descriptors sampled during each.

    admin_attack.py NAME PID PORT HEALTH_PATH METRICS_PATH SECONDS

Phases, SECONDS each: baseline, idle (2,000 connections that send nothing,
reopened when closed), slowloris (300 connections trickling a request head,
one header line a second, reopened when closed), oversized (20 clients in a
loop, each sending a 2 MB header), all (the three at once). During each,
GET HEALTH_PATH and METRICS_PATH alternate every 100 ms on a new connection
with a 1 s timeout (the kubelet's probe default); RSS (VmRSS) and open
descriptors of PID are sampled every 100 ms. One line per phase on stdout:

    NAME PHASE health=OK/N p50_ms=.. max_ms=.. metrics=OK/N p50_ms=.. max_ms=.. rss_peak_kb=.. fds_peak=.. attack=..

Loopback only; every socket it opens is closed when the phase ends.
"""

import os
import selectors
import socket
import sys
import threading
import time

name, pid, port, health_path, metrics_path, seconds = sys.argv[1:7]
port, seconds = int(port), float(seconds)
ADDR = ("127.0.0.1", port)
IDLE, SLOW, BIG_CLIENTS, BIG = 2000, 300, 20, 2 * 1024 * 1024


def get(path):
    """Status and latency (ms) of GET path on a new connection; status 0 on failure."""
    started = time.monotonic()
    try:
        with socket.create_connection(ADDR, timeout=1) as s:
            s.settimeout(1)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.") else 0
    except (OSError, ValueError, IndexError):
        status = 0
    return status, (time.monotonic() - started) * 1000


def footprint():
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, StopIteration):
        return 0, 0
    return rss, fds


class Flood:
    """Connections that send nothing (idle) or a head one line a second
    (slow); each one the server closes is opened again."""

    def __init__(self, count, slow):
        self.count, self.slow = count, slow
        self.sel = selectors.DefaultSelector()
        self.socks = {}
        self.opened = 0
        self.stop = threading.Event()

    def open_one(self):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(ADDR)
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            return
        self.opened += 1
        self.socks[s] = 0.0
        self.sel.register(s, selectors.EVENT_READ)

    def drop(self, s):
        self.sel.unregister(s)
        del self.socks[s]
        s.close()

    def run(self):
        while not self.stop.is_set():
            while len(self.socks) < self.count and not self.stop.is_set():
                self.open_one()
            for key, _ in self.sel.select(timeout=0.05):
                try:
                    data = key.fileobj.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    self.drop(key.fileobj)
            if self.slow:
                now = time.monotonic()
                for s, last in list(self.socks.items()):
                    if now - last >= 1.0:
                        line = b"GET /metrics HTTP/1.1\r\n" if last == 0.0 else b"X-a: b\r\n"
                        try:
                            s.send(line)
                            self.socks[s] = now
                        except OSError:
                            self.drop(s)
        for s in list(self.socks):
            self.drop(s)

    def describe(self):
        return f"{self.count}{'slow' if self.slow else 'idle'}:opened={self.opened}"


class Oversized:
    """Clients sending a 2 MB header in a loop; counts the 431s."""

    def __init__(self):
        self.stop = threading.Event()
        self.sent = self.answered_431 = 0
        self.lock = threading.Lock()

    def client(self):
        head = b"GET /metrics HTTP/1.1\r\nHost: bench\r\nX-Big: " + b"a" * BIG + b"\r\n\r\n"
        while not self.stop.is_set():
            try:
                with socket.create_connection(ADDR, timeout=2) as s:
                    s.settimeout(2)
                    try:
                        s.sendall(head)
                    except OSError:
                        pass
                    data = s.recv(64)
                with self.lock:
                    self.sent += 1
                    self.answered_431 += data.startswith(b"HTTP/1.1 431")
            except OSError:
                with self.lock:
                    self.sent += 1
                time.sleep(0.01)

    def run(self):
        threads = [threading.Thread(target=self.client) for _ in range(BIG_CLIENTS)]
        for t in threads:
            t.start()
        self.stop.wait()
        for t in threads:
            t.join()

    def describe(self):
        return f"oversized:sent={self.sent},431={self.answered_431}"


def phase(label, attackers):
    threads = [threading.Thread(target=a.run) for a in attackers]
    for t in threads:
        t.start()
    time.sleep(min(2.0, seconds / 3))  # let the attack build up
    results = {health_path: [], metrics_path: []}
    rss_peak = fds_peak = 0
    end = time.monotonic() + seconds
    turn = 0
    while time.monotonic() < end:
        path = (health_path, metrics_path)[turn % 2]
        turn += 1
        results[path].append(get(path))
        rss, fds = footprint()
        rss_peak, fds_peak = max(rss_peak, rss), max(fds_peak, fds)
        time.sleep(0.1)
    for a in attackers:
        a.stop.set()
    for t in threads:
        t.join()

    def stats(rows):
        ok = sum(1 for status, _ in rows if status == 200)
        lat = sorted(ms for _, ms in rows)
        p50 = lat[len(lat) // 2] if lat else 0
        return f"{ok}/{len(rows)} p50_ms={p50:.1f} max_ms={(lat[-1] if lat else 0):.1f}"

    attack = ",".join(a.describe() for a in attackers) or "none"
    print(
        f"{name} {label} health={stats(results[health_path])} metrics={stats(results[metrics_path])} "
        f"rss_peak_kb={rss_peak} fds_peak={fds_peak} attack={attack}",
        flush=True,
    )
    time.sleep(1)


phase("baseline", [])
phase("idle", [Flood(IDLE, slow=False)])
phase("slowloris", [Flood(SLOW, slow=True)])
phase("oversized", [Oversized()])
phase("all", [Flood(IDLE, slow=False), Flood(SLOW, slow=True), Oversized()])
