"""vm console over a websocket against a hostile or unusual server: the fake
propolis-server in raw mode lets the test write every frame itself and reads
nothing the client sends; in its default mode libsoup serves the websocket.
qv must relay what is valid and end with an error naming the console and
the limit, within bounded memory, when the server floods it."""

import os
import resource
import shutil
import struct
import subprocess
import time

import pytest

from conftest import QV
from test_console import Fake, propolis, read_until  # noqa: F401 (fixture)

LIMIT = 64 * 1024
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


def frame(op, payload=b"", fin=True):
    """One unmasked server frame, RFC 6455 section 5.2."""
    head = bytes([(0x80 if fin else 0) | op])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 1 << 16:
        head += bytes([126]) + struct.pack(">H", n)
    else:
        head += bytes([127]) + struct.pack(">Q", n)
    return head + payload


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def console(fake):
    # Under ASan, freed memory waits in a quarantine of 256 MiB by default:
    # the RSS checks below are about what qv holds, so keep it small (no
    # effect on a build without ASan).
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"),
                                                 "quarantine_size_mb=4"]))
    return subprocess.Popen([QV, "-c", fake.uri, "vm", "console", "web01"], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def attach_raw(fake):
    """qv attached to a raw-mode websocket, proven by a frame relayed."""
    fake.control("POST", "/_fake/ws_mode", b"raw")
    p = console(fake)
    deadline = time.time() + 10
    # The upgrade may not have happened yet when the first frame is written.
    while True:
        fake.control("POST", "/_fake/ws_raw", frame(OP_BINARY, b"attached\n"))
        try:
            read_until(p.stdout.fileno(), b"attached\n", timeout=0.5)
            return p
        except AssertionError:
            assert time.time() < deadline and p.poll() is None, p.stderr.read()


def wait_rusage(p, timeout):
    """Wait for p like Popen.wait, and return its peak RSS in KiB. Linux
    counts into it the RSS of this process when it forked p (see
    peak_bound)."""
    deadline = time.time() + timeout
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            return ru.ru_maxrss
        if time.time() > deadline:
            grown = rss_kib(p.pid)
            p.kill()
            p.wait()
            raise AssertionError("qv still running after %ds, RSS %d KiB" % (timeout, grown))
        time.sleep(0.05)


def peak_bound(before, grown_kib):
    """The most wait_rusage may report when qv grew by at most grown_kib
    from before: the fork's copy of this process may be the larger."""
    return max(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) + grown_kib


def endpoint(fake):
    return "ws://127.0.0.1:%d/instance/serial" % fake.port


def test_endless_fragments_end_with_an_error_in_bounded_memory(propolis):
    """A message begun with FIN=0 and continued forever: libsoup 3.2 would
    reassemble it without limit; qv stops at 64 KiB for the whole message."""
    fake, _ = propolis
    p = attach_raw(fake)
    before = rss_kib(p.pid)
    fake.control("POST", "/_fake/ws_raw", frame(OP_BINARY, b"x" * 4096, fin=False))
    fake.control("POST", "/_fake/ws_flood", frame(OP_CONT, b"y" * 4096, fin=False) * 16)
    peak = wait_rusage(p, 20)
    err = p.stderr.read().decode()
    assert p.returncode == 1, err
    assert err == ("qv: error: console %s: the server sent a websocket message larger than "
                   "the limit of %d bytes (all fragments of one message together)\n"
                   % (endpoint(fake), LIMIT)), err
    # Nothing of the refused message was printed.
    assert b"x" not in p.stdout.read()
    assert peak < peak_bound(before, 32 * 1024), (before, peak)


def test_ping_flood_unread_pongs_end_with_an_error_in_bounded_memory(propolis):
    """Pings from a server that never reads: libsoup queues a pong for each;
    qv gives up once 1024 are owed beyond what the socket took."""
    fake, _ = propolis
    p = attach_raw(fake)
    before = rss_kib(p.pid)
    fake.control("POST", "/_fake/ws_flood", frame(OP_PING, b"p" * 125) * 256)
    peak = wait_rusage(p, 30)
    err = p.stderr.read().decode()
    assert p.returncode == 1, err
    assert err == ("qv: error: console %s: the server sent more than 1024 websocket pings "
                   "without reading the replies\n" % endpoint(fake)), err
    # Measured: +1 MiB, +22 MiB under ASan (its allocator's own keeping).
    assert peak < peak_bound(before, 48 * 1024), (before, peak)


def test_fragments_with_pings_between(propolis):
    """Control frames between fragments neither count towards the message
    nor start a new one."""
    fake, _ = propolis
    p = attach_raw(fake)
    try:
        # 64 KiB - 1 of data in two fragments, 100 full-size pings between:
        # one message just under the limit, printed whole.
        first, last = b"a" * (LIMIT // 2), b"b" * (LIMIT // 2 - 1)
        fake.control("POST", "/_fake/ws_raw",
                     frame(OP_BINARY, first, fin=False) + frame(OP_PING, b"q" * 125) * 100 +
                     frame(OP_CONT, last))
        out = read_until(p.stdout.fileno(), last)
        assert out.endswith(first + last) and b"q" not in out
        # A text message (propolis's control messages) in fragments is not
        # console output.
        fake.control("POST", "/_fake/ws_raw", frame(OP_TEXT, b"{\"x\":", fin=False) +
                     frame(OP_PING) + frame(OP_CONT, b"1}") + frame(OP_BINARY, b"after\n"))
        out = read_until(p.stdout.fileno(), b"after\n")
        assert out == b"after\n", out
        # 40 KiB + 40 KiB with a ping between: over the limit, although
        # each fragment alone is not.
        fake.control("POST", "/_fake/ws_raw", frame(OP_BINARY, b"c" * 40960, fin=False) +
                     frame(OP_PING) + frame(OP_CONT, b"d" * 40960))
        assert p.wait(timeout=20) == 1
    finally:
        if p.poll() is None:
            p.kill()
    err = p.stderr.read().decode()
    assert err.startswith("qv: error: console %s: the server sent a websocket message larger "
                          "than the limit of %d bytes" % (endpoint(fake), LIMIT)), err
    assert b"c" not in p.stdout.read()


def test_server_pings_are_answered_and_its_close_ends_the_console(propolis):
    fake, _ = propolis
    p = console(fake)
    try:
        p.stdin.write(b"one\n")
        p.stdin.flush()
        read_until(p.stdout.fileno(), b"one\n")
        fake.control("POST", "/_fake/ws_ping")
        deadline = time.time() + 10
        while fake.control("GET", "/_fake/stats")["ws_pongs"] < 2:
            assert time.time() < deadline, "qv did not answer the server's pings"
            time.sleep(0.2)
        # Still relaying both ways (binary frames) after the pings.
        p.stdin.write(b"two\x00\xff\n")
        p.stdin.flush()
        read_until(p.stdout.fileno(), b"two\x00\xff\n")
        # The server closes: qv ends normally, without an error.
        fake.control("POST", "/_fake/ws_close")
        assert p.wait(timeout=10) == 0
    finally:
        if p.poll() is None:
            p.kill()
    assert p.stderr.read() == b""


def test_refused_upgrade_names_the_status(propolis):
    fake, cli = propolis
    fake.control("POST", "/_fake/fault", b'{"method": "GET", "path": "/instance/serial", '
                 b'"mode": "fail", "status": 503}')
    r = cli("vm", "console", "web01")
    assert r.rc == 1, r
    assert r.err == ("qv: error: cannot connect to console %s: the server refused the "
                     "websocket upgrade: HTTP 503 Service Unavailable\n" % endpoint(fake)), r


@pytest.mark.parametrize("mode,why", [
    ("raw-bad-accept", "the server's Sec-WebSocket-Accept does not match the key qv sent"),
    ("raw-extension", "the server chose a websocket extension qv did not offer"),
])
def test_upgrade_answer_is_checked(propolis, mode, why):
    fake, cli = propolis
    fake.control("POST", "/_fake/ws_mode", mode.encode())
    r = cli("vm", "console", "web01")
    assert r.rc == 1, r
    assert r.err == "qv: error: cannot connect to console %s: %s\n" % (endpoint(fake), why), r


def test_trickled_upgrade_answer_ends_at_the_handshake_deadline(propolis, tmp_path):
    """A server answering the upgrade one byte a second never trips a per-read
    timeout; the handshake as a whole is bounded (30 s) all the same."""
    import socket
    import threading
    fake, _ = propolis
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    stop = threading.Event()

    def handle(c):
        head = b""
        while b"\r\n\r\n" not in head:
            d = c.recv(1)
            if not d:
                return
            head += d
        try:
            if b"upgrade: websocket" in head.lower():
                for ch in b"HTTP/1.1 101 Switching Protocols\r\nX-Pad: " + b"a" * 1000:
                    if stop.is_set():
                        return
                    c.sendall(bytes([ch]))
                    time.sleep(1)
                return
            # Everything else goes to the fake server, one request per
            # connection (qv's REST client may keep it alive: close after).
            u = socket.create_connection(("127.0.0.1", fake.port))
            u.sendall(head)
            u.shutdown(socket.SHUT_WR)
            while True:
                d = u.recv(65536)
                if not d:
                    break
                c.sendall(d)
            u.close()
        except OSError:
            pass
        finally:
            c.close()

    def serve():
        while not stop.is_set():
            try:
                c, _ = ls.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(c,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    port = ls.getsockname()[1]
    uri = fake.uri.replace(":%d?" % fake.port, ":%d?" % port)
    # The VM is known per server address: the proxy's address knows it too.
    states = tmp_path / "root" / "propolis"
    shutil.copytree(states / ("127.0.0.1_%d" % fake.port), states / ("127.0.0.1_%d" % port))
    t0 = time.monotonic()
    try:
        r = subprocess.run([QV, "-c", uri, "vm", "console", "web01"], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=120)
    finally:
        stop.set()
        ls.close()
    took = time.monotonic() - t0
    assert r.returncode == 1, r
    assert "did not answer the websocket upgrade within 30 s" in r.stderr, r
    assert took < 60, took
