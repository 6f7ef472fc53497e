"""vm console, end to end over a websocket: the propolis driver against the
project's fake propolis-server, whose guest echoes what it reads on com1 and
prints whatever is POSTed to /_fake/serial."""

import json
import os
import pty
import select
import signal
import subprocess
import termios
import time
import urllib.request

import pytest

from conftest import QV, Cli, drivers

FAKE = os.environ.get("FAKE_PROPOLIS_SERVER", "")
OPENAPI = os.environ.get("PROPOLIS_OPENAPI", "")

DOMAIN = """<domain type='kvm'>
  <name>web01</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <serial type='pty'><target port='0'/></serial>
  </devices>
</domain>
"""


class Fake:
    def __init__(self, tmp_path):
        self.proc = subprocess.Popen([FAKE, "--openapi", OPENAPI, "--step-ms", "30"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.port = int(self.proc.stdout.readline())
        self.uri = "propolis://127.0.0.1:%d?root=%s" % (self.port, tmp_path / "root")

    def control(self, method, path, body=None):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), data=body,
                                     method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            data = r.read()
        return json.loads(data) if data else None

    def stop(self):
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def propolis(tmp_path):
    if not (FAKE and os.access(FAKE, os.X_OK) and os.path.exists(OPENAPI)):
        pytest.skip("the fake propolis-server is not built (FAKE_PROPOLIS_SERVER unset)")
    if "propolis" not in drivers():
        pytest.skip("libqv was built without the propolis driver")
    fake = Fake(tmp_path)
    cli = Cli(fake.uri)
    f = tmp_path / "web01.xml"
    f.write_text(DOMAIN)
    cli("vm", "create", "--xml", f)
    r = cli("vm", "start", "web01")
    assert r.rc == 0, r
    yield fake, cli
    fake.stop()


def read_until(fd, needle, timeout=10):
    buf = b""
    deadline = time.time() + timeout
    while needle not in buf:
        left = deadline - time.time()
        assert left > 0, "never saw %r; got %r" % (needle, buf)
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 4096)
            assert chunk, "EOF before %r; got %r" % (needle, buf)
            buf += chunk
    return buf


def test_console_pipe_both_ways(propolis):
    fake, cli = propolis
    p = subprocess.Popen([QV, "-c", fake.uri, "vm", "console", "web01"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Not a terminal: no banner, bytes as they are, both ways.
        p.stdin.write(b"ping\x1d\x00\xff\n")
        p.stdin.flush()
        read_until(p.stdout.fileno(), b"ping\x1d\x00\xff\n")
        fake.control("POST", "/_fake/serial", b"from the guest\r\n")
        read_until(p.stdout.fileno(), b"from the guest\r\n")
        # Input ending does not end the session: the console keeps printing.
        p.stdin.close()
        time.sleep(0.2)
        assert p.poll() is None
        fake.control("POST", "/_fake/serial", b"still here")
        read_until(p.stdout.fileno(), b"still here")
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)
    assert p.stderr.read() == b""


def test_console_tty_raw_mode_and_detach(propolis):
    fake, cli = propolis
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    p = subprocess.Popen([QV, "-c", fake.uri, "vm", "console", "web01"], stdin=slave,
                         stdout=slave, stderr=subprocess.PIPE)
    try:
        banner = read_until(p.stderr.fileno(), b"\n")
        assert banner.startswith(b"Connected to ws://127.0.0.1:%d/instance/serial. "
                                 b"Escape character is ^]" % fake.port), banner
        # Raw mode: no line buffering, no local echo; Ctrl-C goes to the guest
        # instead of killing qv. What comes back is the guest's echo only.
        os.write(master, b"ab\x03c")
        assert read_until(master, b"c") == b"ab\x03c"
        assert p.poll() is None
        os.write(master, b"x\x1dy")  # Ctrl+] detaches; what precedes it is sent
        assert p.wait(timeout=10) == 0
    finally:
        if p.poll() is None:
            p.kill()
    after = termios.tcgetattr(slave)
    assert after == before, "terminal mode not restored"
    stats = fake.control("GET", "/_fake/stats")
    sent = bytes(stats["ws_input"]) if isinstance(stats["ws_input"], list) and \
        all(isinstance(b, int) for b in stats["ws_input"]) else None
    if sent is not None:
        assert sent.endswith(b"ab\x03cx"), sent
    os.close(master)
    os.close(slave)


def test_console_unreachable(propolis, tmp_path):
    fake, cli = propolis
    fake.stop()
    r = cli("vm", "console", "web01")
    assert r.rc == 1 and r.err.startswith("qv: error: "), r
