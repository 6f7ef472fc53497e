"""vm run: the generic side on the noop driver (a noop guest never stops by
itself, so the run ends by another qv stopping it or by a signal), and a
real guest on kvm:///embed when /dev/kvm and a test payload are there."""

import os
import select
import re
import signal
import subprocess
import time

import pytest

from conftest import QV, assert_valid_domain_xml, parse_table, run_qv

LIST_HEADERS = ["NAME", "STATE", "VCPUS", "MEMORY", "UUID"]


def start_run(uri, *args):
    env = dict(os.environ)
    env.pop("QV_DEFAULT_URI", None)
    return subprocess.Popen([QV, "-c", uri, "vm", "run", *map(str, args)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def wait_running(cli, name, proc, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.communicate()
        rows = parse_table(cli.ok("vm", "list").out, LIST_HEADERS)
        if any(r["NAME"] == name and r["STATE"] == "running" for r in rows):
            return
        time.sleep(0.05)
    proc.kill()
    pytest.fail("VM %s never ran: %s" % (name, proc.communicate()))


@pytest.fixture
def kernel(tmp_path):
    f = tmp_path / "kernel.bin"
    f.write_bytes(b"\xf4" * 512)  # noop never executes it
    return f


def test_run_kernel_defines_transient_vm(cli, kernel, tmp_path):
    initrd = tmp_path / "initrd.img"
    initrd.write_bytes(b"\0" * 16)
    p = start_run(cli.uri, "--kernel", kernel, "--initrd", initrd, "--append",
                  "console=ttyS0 a<b&c", "--memory", "64M", "--vcpus", "2")
    name = "run-%d" % p.pid
    wait_running(cli, name, p)
    xml = cli.ok("vm", "show", name, "--xml").out
    assert "<kernel>%s</kernel>" % kernel in xml, xml
    assert "<initrd>%s</initrd>" % initrd in xml, xml
    assert "<cmdline>console=ttyS0 a&lt;b&amp;c</cmdline>" in xml, xml
    assert re.search(r"<serial type=.stdio.", xml), xml
    assert_valid_domain_xml(xml, tmp_path)
    row = [r for r in parse_table(cli.ok("vm", "list").out, LIST_HEADERS) if r["NAME"] == name]
    assert row[0]["VCPUS"] == "2" and row[0]["MEMORY"] == "64 MiB", row
    # Stopped from elsewhere: a power-off, so status 0, and the VM is gone.
    cli.ok("vm", "stop", name, "--force")
    out, err = p.communicate(timeout=20)
    assert p.returncode == 0, (out, err)
    assert parse_table(cli.ok("vm", "list", "--all").out, LIST_HEADERS) == []


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130),
                                      (signal.SIGQUIT, 131), (signal.SIGHUP, 129)])
def test_run_signal_forces_stop(cli, kernel, sig, code):
    p = start_run(cli.uri, "--kernel", kernel)
    name = "run-%d" % p.pid
    wait_running(cli, name, p)
    t0 = time.monotonic()
    p.send_signal(sig)
    out, err = p.communicate(timeout=20)
    assert p.returncode == code, (out, err)
    assert time.monotonic() - t0 < 5
    assert parse_table(cli.ok("vm", "list", "--all").out, LIST_HEADERS) == []


def test_run_xml(cli, kernel, tmp_path):
    f = tmp_path / "run.xml"
    f.write_text("<domain type='test'>\n  <name>fromxml</name>\n"
                 "  <memory unit='MiB'>32</memory>\n  <vcpu>1</vcpu>\n"
                 "  <os><type arch='x86_64'>hvm</type><kernel>%s</kernel></os>\n"
                 "</domain>\n" % kernel)
    p = start_run(cli.uri, "--xml", f)
    wait_running(cli, "fromxml", p)
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=20)
    assert p.returncode == 143
    assert parse_table(cli.ok("vm", "list", "--all").out, LIST_HEADERS) == []


def test_run_on_private_noop_is_refused_at_once(kernel):
    # noop:/// lives in the running qv alone: nothing could ever stop the guest
    for uri in ("noop:///", "noop:"):
        r = run_qv("vm", "run", "--kernel", kernel, uri=uri, timeout=20)
        assert r.rc == 1 and r.out == "", r
        assert r.err.startswith("qv: error: vm run on %s would never return" % uri), r
        assert "noop:///ABS/DIR" in r.err, r


def test_run_define_error_leaves_nothing(cli, tmp_path):
    f = tmp_path / "bad.xml"
    f.write_text("<domain type='test'><name>x</name></domain>")
    r = cli.fails(1, "vm", "run", "--xml", f)
    assert parse_table(cli.ok("vm", "list", "--all").out, LIST_HEADERS) == []


# ---- kvm:///embed: real guests ---------------------------------------------
# Flat binaries, loaded at 1 MiB and entered in 64-bit mode by the kvm driver.

# mov dx,0x3f8; mov al,'h'; out dx,al; mov al,'i'; out dx,al; mov al,10;
# out dx,al; mov al,5; out 0xf4,al; hlt; jmp $-1
HELLO = bytes.fromhex("66baf803b068eeb069eeb00aeeb005e6f4f4ebfd")
# wait: mov dx,0x3fd; in al,dx; test al,1; jz wait; mov dx,0x3f8; in al,dx;
# out 0xf4,al; hlt; jmp $-1   -- exits with the first byte it reads
READ_ONE = bytes.fromhex("66bafd03eca80174fb66baf803ece6f4f4ebfd")
SPIN = bytes.fromhex("ebfe")  # jmp $
UD2 = bytes.fromhex("0f0b")  # #UD with no IDT: a triple fault
# wait: mov dx,0x3fd; in al,dx; test al,1; jz wait; mov dx,0x3f8; in al,dx;
# out dx,al; out 0xf4,al; hlt; jmp $-1   -- echoes one byte, exits with it
ECHO_ONE = bytes.fromhex("66bafd03eca80174fb66baf803eceee6f4f4ebfd")


@pytest.fixture
def kvm(tmp_path):
    from conftest import drivers
    if not os.path.exists("/dev/kvm"):
        pytest.skip("/dev/kvm does not exist on this machine")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        pytest.skip("/dev/kvm is not readable and writable by this user")
    if "kvm" not in drivers():
        pytest.skip("libqv was built without the kvm driver")

    def payload(name, code):
        f = tmp_path / name
        f.write_bytes(code)
        return f
    return payload


def test_kvm_run_console_and_exit_status(kvm):
    r = run_qv("vm", "run", "--kernel", kvm("hello.bin", HELLO), "--memory", "16M",
               uri="kvm:///embed", timeout=60)
    assert r.out == "hi\n", r
    assert r.err == "", r
    assert r.rc == (5 << 1) | 1, r


def test_kvm_run_stdin_reaches_guest(kvm):
    r = run_qv("vm", "run", "--kernel", kvm("read.bin", READ_ONE), "--memory", "16M",
               uri="kvm:///embed", input="A", timeout=60)
    assert r.rc == ((ord("A") << 1) | 1) & 0xFF, r


def test_kvm_run_default_uri_from_environment(kvm):
    r = run_qv("vm", "run", "--kernel", kvm("hello.bin", HELLO), "--memory", "16M",
               env={"QV_DEFAULT_URI": "kvm:///embed"}, timeout=60)
    assert (r.rc, r.out) == (11, "hi\n"), r


def test_kvm_run_default_uri_is_embed(kvm):
    # qv vm run is a foreground run: without -c it stays in-process on
    # kvm:///embed (the guest's exit status comes straight back), even
    # where other commands default to kvm:///session.
    r = run_qv("--debug", "vm", "run", "--kernel", kvm("hello.bin", HELLO), "--memory", "16M",
               timeout=60)
    assert (r.rc, r.out) == (11, "hi\n"), r
    assert "qv_connect: URI 'kvm:///embed'" in r.err, r


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_kvm_run_signal_stops_spinning_guest(kvm, sig, code):
    p = start_run("kvm:///embed", "--kernel", kvm("spin.bin", SPIN), "--memory", "16M")
    time.sleep(0.5)
    assert p.poll() is None, p.communicate()
    p.send_signal(sig)
    out, err = p.communicate(timeout=20)
    assert p.returncode == code, (out, err)


def test_kvm_run_bad_kernel(kvm, tmp_path):
    empty = kvm("empty.bin", b"")
    r = run_qv("vm", "run", "--kernel", empty, uri="kvm:///embed")
    assert r.rc == 1 and r.err.startswith("qv: error: "), r
    assert str(empty) in r.err, r


def test_kvm_run_crash_is_an_error(kvm):
    r = run_qv("vm", "run", "--kernel", kvm("ud2.bin", UD2), "--memory", "16M",
               uri="kvm:///embed", timeout=60)
    assert r.rc == 1, r
    # libqv may log a warning with details first; qv formats it as its own.
    lines = r.err.splitlines()
    assert lines and all(line.startswith("qv: ") for line in lines), r
    assert re.fullmatch(r"qv: error: VM 'run-\d+' crashed", lines[-1]), r


# ---- qemu:///session: the console relayed from QEMU's socket --------------

@pytest.fixture
def qemu(tmp_path):
    import shutil
    from conftest import drivers
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu-system-x86_64 is not installed")
    if "qemu" not in drivers():
        pytest.skip("libqv was built without the qemu driver")
    return "qemu:///session?root=%s" % (tmp_path / "root")


def qemu_processes(root):
    out = subprocess.run(["pgrep", "-f", "qemu-system.*%s" % root], capture_output=True,
                         text=True).stdout
    return [int(x) for x in out.split()]


def test_qemu_run_relays_console(qemu, tmp_path):
    from guests import echo_guest
    kernel = tmp_path / "echo.mb"
    kernel.write_bytes(echo_guest())
    p = subprocess.Popen([QV, "-c", qemu, "vm", "run", "--kernel", str(kernel), "--memory",
                          "32M"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    # Type once the guest says it is ready, as a person would: before that,
    # nothing reads the serial line (seen once under ASan: the bytes came
    # back before "ready", ending the read early).
    buf = b""
    deadline = time.time() + 60

    def read_some():
        # Never block past the deadline: a lost line must fail the test,
        # not hang it.
        ready, _, _ = select.select([p.stdout], [], [], max(0.0, deadline - time.time()))
        return os.read(p.stdout.fileno(), 4096) if ready else b""

    while b"qv-echo ready\r\n" not in buf and time.time() < deadline:
        chunk = read_some()
        if not chunk:
            break
        buf += chunk
    p.stdin.write(b"typed\n")
    p.stdin.flush()
    while not buf.endswith(b"typed\n") and time.time() < deadline:
        chunk = read_some()
        if not chunk:
            break
        buf += chunk
    assert b"qv-echo ready\r\n" in buf and buf.endswith(b"typed\n"), (buf, p.poll())
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 130, (out, err)
    assert err == b"", err
    assert qemu_processes(tmp_path / "root") == []
    r = run_qv("vm", "list", "--all", uri=qemu)
    assert parse_table(r.out, LIST_HEADERS) == [], r


def test_qemu_run_crash(qemu, tmp_path):
    from guests import echo_guest
    kernel = tmp_path / "echo.mb"
    kernel.write_bytes(echo_guest())
    p = subprocess.Popen([QV, "-c", qemu, "vm", "run", "--kernel", str(kernel), "--memory",
                          "32M"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    # Once QEMU runs the guest, it dies under it.
    pids = []
    deadline = time.time() + 60
    while time.time() < deadline and p.poll() is None:
        pids = qemu_processes(tmp_path / "root")
        r = run_qv("vm", "list", uri=qemu)
        if pids and "running" in r.out:
            break
        time.sleep(0.2)
    assert pids, p.communicate()
    killed = 0
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except ProcessLookupError:
            pass  # QEMU's -daemonize parent, which exits once QEMU is set up
    assert killed, pids
    out, err = p.communicate(timeout=60)
    assert p.returncode == 1, (out, err)
    assert re.search(r"qv: error: VM 'run-\d+' crashed", err), err


def test_qemu_run_shows_the_first_byte(qemu, tmp_path):
    """A guest that prints the moment it runs and resets at once: `vm run`
    on a pty console must still show all it printed, exactly once (QEMU
    drops what is written to a pty nobody holds open; its log keeps it)."""
    from guests import bios_domain_xml, bios_guest
    banner = b"qv-first-byte: booted\r\n"
    fw = tmp_path / "reset.bin"
    fw.write_bytes(bios_guest(banner, then="reset"))
    xml = tmp_path / "first.xml"
    xml.write_text(bios_domain_xml("first", fw))
    for _ in range(3):  # the guest may be gone before vm run looks, or not yet
        p = subprocess.run([QV, "-c", qemu, "vm", "run", "--xml", str(xml)],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
        assert (p.returncode, p.stdout, p.stderr) == (0, banner, b""), p
    assert qemu_processes(tmp_path / "root") == []


def test_qemu_run_first_byte_then_live(qemu, tmp_path):
    """A guest that prints the moment it runs and then echoes: what it
    printed before vm run attached comes first, then the echo, once each."""
    from guests import bios_domain_xml, bios_guest
    banner = b"qv-first-byte: echo ready\r\n"
    fw = tmp_path / "echo.bin"
    fw.write_bytes(bios_guest(banner, then="echo"))
    xml = tmp_path / "echo.xml"
    xml.write_text(bios_domain_xml("firstecho", fw))
    p = subprocess.Popen([QV, "-c", qemu, "vm", "run", "--xml", str(xml)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        buf = b""
        deadline = time.time() + 60
        while len(buf) < len(banner) and time.time() < deadline:
            ready, _, _ = select.select([p.stdout], [], [], max(0.0, deadline - time.time()))
            chunk = os.read(p.stdout.fileno(), 4096) if ready else b""
            if not chunk:
                break
            buf += chunk
        assert buf == banner, (buf, p.poll())
        p.stdin.write(b"typed\n")
        p.stdin.flush()
        while len(buf) < len(banner + b"typed\n") and time.time() < deadline:
            ready, _, _ = select.select([p.stdout], [], [], max(0.0, deadline - time.time()))
            chunk = os.read(p.stdout.fileno(), 4096) if ready else b""
            if not chunk:
                break
            buf += chunk
        assert buf == banner + b"typed\n", buf
    finally:
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    assert (p.returncode, out, err) == (130, b"", b""), (p.returncode, out, err)
    assert qemu_processes(tmp_path / "root") == []


@pytest.mark.parametrize("serial", ["unix", "pty"])
def test_kvm_run_relays_console_off_stdio(kvm, tmp_path, serial):
    """A serial port on a socket or pty instead of stdio: vm run relays it."""
    sock = tmp_path / "serial.sock"
    source = ("<source mode='bind' path='%s'/>" % sock) if serial == "unix" else ""
    xml = tmp_path / "relay.xml"
    xml.write_text("<domain type='kvm'>\n  <name>relay</name>\n"
                   "  <memory unit='MiB'>16</memory>\n  <vcpu>1</vcpu>\n"
                   "  <os><type arch='x86_64'>hvm</type><kernel>%s</kernel></os>\n"
                   "  <devices><serial type='%s'>%s<target port='0'/></serial></devices>\n"
                   "</domain>\n" % (kvm("echo.bin", ECHO_ONE), serial, source))
    r = run_qv("vm", "run", "--xml", xml, uri="kvm:///embed", input="Z", timeout=60)
    assert (r.rc, r.out, r.err) == (((ord("Z") << 1) | 1) & 0xFF, "Z", ""), r
