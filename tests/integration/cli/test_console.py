"""vm console, end to end: over a websocket with the propolis driver against
the project's fake propolis-server (whose guest echoes what it reads on com1
and prints whatever is POSTed to /_fake/serial), and over a unix socket or a
pty with the qemu driver running a tiny multiboot guest that echoes its
serial port."""

import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import termios
import time
import urllib.request

import pytest

from conftest import QV, Cli, drivers
from guests import echo_guest

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


def test_console_oversized_frame_is_an_error(propolis):
    """A frame over the console's limit (64 KiB) ends the session with an
    error naming the console, instead of being buffered whole."""
    fake, cli = propolis
    p = subprocess.Popen([QV, "-c", fake.uri, "vm", "console", "web01"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        p.stdin.write(b"ping\n")  # echoed once the console is attached
        p.stdin.flush()
        read_until(p.stdout.fileno(), b"ping\n")
        fake.control("POST", "/_fake/serial", b"x" * (1 << 20))
        assert p.wait(timeout=20) == 1
    finally:
        if p.poll() is None:
            p.kill()
    err = p.stderr.read().decode()
    assert err.startswith("qv: error: console ws://127.0.0.1:%d/instance/serial: " % fake.port), err
    assert "large" in err, err


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


# ---- qemu:///session: the console on a unix socket or a pty ---------------

@pytest.fixture
def qemu_vm(tmp_path):
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu-system-x86_64 is not installed")
    if "qemu" not in drivers():
        pytest.skip("libqv was built without the qemu driver")
    kernel = tmp_path / "echo.mb"
    kernel.write_bytes(echo_guest())
    xml = tmp_path / "echo.xml"
    xml.write_text("<domain type='qemu'>\n  <name>echo</name>\n"
                   "  <memory unit='MiB'>32</memory>\n  <vcpu>1</vcpu>\n"
                   "  <os><type arch='x86_64' machine='pc'>hvm</type>"
                   "<kernel>%s</kernel></os>\n</domain>\n" % kernel)
    cli = Cli("qemu:///session?root=%s" % (tmp_path / "root"))
    cli.ok("vm", "create", "--xml", xml)
    cli.ok("vm", "start", "echo")
    yield cli
    cli("vm", "destroy", "echo")


def test_unix_console_pipe(qemu_vm):
    p = subprocess.Popen([QV, "-c", qemu_vm.uri, "vm", "console", "echo"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Bytes wait in the socket until the guest's echo loop reads them.
        p.stdin.write(b"hello \x1d\x03 world\n")
        p.stdin.flush()
        # The guest may still be printing its boot banner when qv connects.
        out = read_until(p.stdout.fileno(), b"world\n", timeout=60)
        assert out.endswith(b"hello \x1d\x03 world\n"), out
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)
    assert p.stderr.read() == b""


def test_unix_console_tty_detach_and_reattach(qemu_vm):
    for word in (b"first", b"second"):
        master, slave = pty.openpty()
        before = termios.tcgetattr(slave)
        p = subprocess.Popen([QV, "-c", qemu_vm.uri, "vm", "console", "echo"], stdin=slave,
                             stdout=slave, stderr=subprocess.PIPE)
        try:
            banner = read_until(p.stderr.fileno(), b"\n")
            # The qemu driver keeps the serial port on a unix socket or a pty.
            assert re.match(rb"Connected to (unix:/\S+|pty:/dev/pts/\d+)\. Escape character "
                            rb"is \^\] \(Ctrl\+\]\)\.\n$", banner), banner
            os.write(master, word)
            # Raw output: the guest's bytes unchanged ("\r\n" stays "\r\n").
            out = read_until(master, word, timeout=60)
            assert out.endswith(word) and b"\r\r" not in out, out
            os.write(master, b"\x1d")
            assert p.wait(timeout=10) == 0
        finally:
            if p.poll() is None:
                p.kill()
        assert termios.tcgetattr(slave) == before, "terminal mode not restored"
        os.close(master)
        os.close(slave)
    # Detaching left the VM running.
    assert "running" in qemu_vm.ok("vm", "show", "echo").out


def test_console_of_stopped_vm_prints_its_log(qemu_vm):
    p = subprocess.Popen([QV, "-c", qemu_vm.uri, "vm", "console", "echo"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(b"logged\n")
    p.stdin.flush()
    read_until(p.stdout.fileno(), b"logged\n", timeout=60)
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=10)
    qemu_vm.ok("vm", "stop", "echo", "--force")
    r = qemu_vm("vm", "console", "echo")
    assert r.rc == 0, r
    assert "qv-echo ready" in r.out and "logged" in r.out, r
    assert re.fullmatch(r"qv: that is the console log of VM 'echo' \(\S+console\.log\); "
                        r"it takes no input\n", r.err), r


# ---- qemu: the console from the guest's first byte -----------------------

FIRST = b"qv-first-byte: echo ready\r\n"


@pytest.fixture
def bios_echo(tmp_path):
    """A VM whose firmware prints FIRST the moment QEMU lets it run, then
    echoes COM1; its console a pty. Started, and left until its banner is
    in the console's log, so that the banner was written before anyone
    could attach."""
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu-system-x86_64 is not installed")
    if "qemu" not in drivers():
        pytest.skip("libqv was built without the qemu driver")
    from guests import bios_domain_xml, bios_guest
    fw = tmp_path / "echo.bin"
    fw.write_bytes(bios_guest(FIRST, then="echo"))
    xml = tmp_path / "firstecho.xml"
    xml.write_text(bios_domain_xml("firstecho", fw, serial="pty"))
    root = tmp_path / "root"
    cli = Cli("qemu:///session?root=%s" % root)
    cli.ok("vm", "create", "--xml", xml)
    log = root / "qemu" / "firstecho" / "console.log"

    def start():
        before = log.stat().st_size if log.exists() else 0
        cli.ok("vm", "start", "firstecho")
        deadline = time.time() + 60
        while time.time() < deadline:
            if log.exists() and log.stat().st_size >= before + len(FIRST):
                return
            time.sleep(0.05)
        pytest.fail("the guest never printed its banner")

    cli.start = start
    start()
    yield cli
    cli("vm", "destroy", "firstecho")


def console(cli):
    return subprocess.Popen([QV, "-c", cli.uri, "vm", "console", "firstecho"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def test_pty_console_replays_then_goes_live(bios_echo):
    """`vm console` after `vm start` shows what the guest wrote before it
    attached, then what comes live, each byte once: attach, type, reattach,
    and after a restart only the new run's output."""
    cli = bios_echo
    for typed, seen in ((b"typed\n", FIRST), (b"again\n", FIRST + b"typed\n")):
        p = console(cli)
        try:
            assert read_until(p.stdout.fileno(), seen, timeout=30) == seen
            p.stdin.write(typed)
            p.stdin.flush()
            assert read_until(p.stdout.fileno(), typed, timeout=30) == typed
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=10)
        assert p.stderr.read() == b""
    # The console ends when the guest does, having printed all of it once.
    p = console(cli)
    assert read_until(p.stdout.fileno(), b"again\n", timeout=30) == FIRST + b"typed\nagain\n"
    cli.ok("vm", "stop", "firstecho", "--force")
    out, err = p.communicate(timeout=30)
    assert (p.returncode, out, err) == (0, b"", b"")
    # A new run: its own output only, though the log keeps the old one too.
    cli.start()
    p = console(cli)
    try:
        assert read_until(p.stdout.fileno(), FIRST, timeout=30) == FIRST
        p.stdin.write(b"second run\n")
        p.stdin.flush()
        assert read_until(p.stdout.fileno(), b"second run\n", timeout=30) == b"second run\n"
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=10)
    # Stopped: the whole log, as before.
    cli.ok("vm", "stop", "firstecho", "--force")
    r = cli("vm", "console", "firstecho")
    whole = FIRST + b"typed\nagain\n" + FIRST + b"second run\n"
    # run_qv reads text: "\r\n" arrives as "\n".
    assert r.rc == 0 and r.out == whole.decode().replace("\r\n", "\n"), r
