"""QEMU guests through qemu+ssh:// against the real sshd on 127.0.0.1
(conftest.py): the console tunnelled over the session, with the tiny echo
guest the CLI tests boot under TCG. The remote host is this machine, so
what the remote side holds is checked through qemu:///session?root=DIR
directly."""

import os
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest

import qv

sys.path.insert(0, os.path.join(os.environ.get("QV_SOURCE_DIR", ""), "tests", "integration",
                                "cli"))
from guests import echo_guest  # noqa: E402

QV = os.environ.get("QV_CLI", "")
READY = b"qv-echo ready\r\n"


@pytest.fixture
def qemu_root(tmp_path):
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu-system-x86_64 is not installed (Debian package qemu-system-x86)")
    if "qemu" not in qv.list_drivers():
        pytest.skip("libqv was built without the qemu driver")
    root = tmp_path / "root"
    root.mkdir(mode=0o700)
    return root


@pytest.fixture
def kernel(tmp_path):
    k = tmp_path / "echo.mb"
    k.write_bytes(echo_guest())
    return k


def qemu_processes(root):
    out = subprocess.run(["pgrep", "-f", "qemu-system.*%s" % root], capture_output=True,
                         text=True).stdout
    return [int(x) for x in out.split()]


def echo_xml(name, kernel):
    return ("<domain type='qemu'><name>%s</name><memory unit='MiB'>32</memory><vcpu>1</vcpu>"
            "<os><type arch='x86_64'>hvm</type><kernel>%s</kernel></os>"
            "<devices><serial type='pty'><target port='0'/></serial></devices></domain>"
            % (name, kernel))


def console_log(root, name):
    try:
        return (root / "qemu" / name / "console.log").read_bytes()
    except FileNotFoundError:
        return b""


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError("timed out after %d s waiting for %s" % (timeout, what))


def read_until(fd, buf, want, timeout=60):
    """Read fd (a pipe or socket) until buf holds want or timeout passes;
    returns buf."""
    deadline = time.monotonic() + timeout
    while want not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        buf += chunk
    return buf


def test_vm_run_streams_the_console_over_ssh(sshd, qemu_root, kernel):
    uri = sshd.uri("qemu", "/session", root=qemu_root)
    p = subprocess.Popen([QV, "-c", uri, "vm", "run", "--kernel", str(kernel), "--memory", "32M"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Type once the guest says it is ready, as a person would. The
        # banner comes within milliseconds of the start, before the tunnel
        # is up (QEMU drops what a pty nobody holds gets), so it is read
        # where the remote side logs it.
        wait_for(lambda: READY in b"".join(console_log(qemu_root, d.name) for d in
                                           (qemu_root / "qemu").glob("run-*")),
                 60, "the guest's banner")
        p.stdin.write(b"over ssh\n")
        p.stdin.flush()
        buf = read_until(p.stdout.fileno(), b"", b"over ssh\n")
        assert buf.endswith(b"over ssh\n"), buf
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 130, (out, err)
    assert err == b"", err
    assert qemu_processes(qemu_root) == []
    with qv.connect("qemu:///session?root=%s" % qemu_root) as local:
        assert local.vm_names() == []


FIRST = b"qv-first-byte: echo ready\r\n"


def test_console_over_ssh_shows_the_guest_from_its_first_byte(sshd, qemu_root, tmp_path):
    """A guest whose firmware prints at once, before any console is
    attached: `qv vm console` over qemu+ssh shows that banner, exactly
    once, then what comes live, and ends with the VM. The helper reads the
    output from the remote console.log, as the local CLI does, since QEMU
    drops what its pty gets while nobody holds it."""
    from guests import bios_domain_xml, bios_guest
    fw = tmp_path / "echo.bin"
    fw.write_bytes(bios_guest(FIRST, then="echo"))
    xml = tmp_path / "first.xml"
    xml.write_text(bios_domain_xml("rq-first", fw, serial="pty"))
    uri = sshd.uri("qemu", "/session", root=qemu_root)
    r = subprocess.run([QV, "-c", uri, "vm", "create", "--xml", str(xml)], capture_output=True)
    assert r.returncode == 0, r
    r = subprocess.run([QV, "-c", uri, "vm", "start", "rq-first"], capture_output=True)
    assert r.returncode == 0, r
    try:
        wait_for(lambda: FIRST in console_log(qemu_root, "rq-first"), 60, "the guest's banner")
        p = subprocess.Popen([QV, "-c", uri, "vm", "console", "rq-first"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            buf = read_until(p.stdout.fileno(), b"", FIRST, timeout=60)
            assert buf == FIRST, buf
            p.stdin.write(b"typed\n")
            p.stdin.flush()
            buf = read_until(p.stdout.fileno(), b"", b"typed\n", timeout=60)
            assert buf == b"typed\n", buf
            r = subprocess.run([QV, "-c", uri, "vm", "stop", "rq-first", "--force"],
                               capture_output=True)
            assert r.returncode == 0, r
            out, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        assert (p.returncode, out, err) == (0, b"", b""), (p.returncode, out, err)
    finally:
        subprocess.run([QV, "-c", uri, "vm", "destroy", "rq-first"], capture_output=True)
    assert qemu_processes(qemu_root) == []


def test_console_endpoint_is_a_private_local_socket_to_the_remote_console(sshd, qemu_root,
                                                                           kernel):
    with qv.connect(sshd.uri("qemu", "/session", root=qemu_root)) as c:
        vm = c.define_xml(echo_xml("rq-echo", kernel))
        vm.start()
        try:
            ep = vm.console_endpoint
            assert ep.startswith("unix:"), ep
            path = ep[5:]
            # This host's socket, not the remote pty: 0600 in a 0700
            # directory of this process.
            assert stat.S_ISSOCK(os.stat(path).st_mode)
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
            assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
            with qv.connect("qemu:///session?root=%s" % qemu_root) as local:
                assert local.lookup("rq-echo").console_endpoint.startswith("pty:")
            wait_for(lambda: READY in console_log(qemu_root, "rq-echo"), 60, "the guest's banner")
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(path)
                s.sendall(b"through the tunnel")
                buf = read_until(s.fileno(), b"", b"through the tunnel")
                assert buf.endswith(b"through the tunnel"), buf
            # Again, through the CLI: `qv vm console` attaches to the same
            # endpoint; its input ends, the console goes on until the VM
            # stops.
            p = subprocess.Popen([QV, "-c", sshd.uri("qemu", "/session", root=qemu_root), "vm",
                                  "console", "rq-echo"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                p.stdin.write(b"and the cli\n")
                p.stdin.flush()
                buf = read_until(p.stdout.fileno(), b"", b"and the cli\n")
                assert buf.endswith(b"and the cli\n"), buf
                vm.stop(force=True)
                out, err = p.communicate(timeout=30)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            assert p.returncode == 0, err
            # The tunnel of a stopped VM carries its log, read-only.
            ep = vm.console_endpoint
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(ep[5:])
                s.settimeout(30)
                log = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    log += chunk
            assert log == console_log(qemu_root, "rq-echo") and READY in log
        finally:
            if vm.state in (qv.State.RUNNING, qv.State.PAUSED):
                vm.stop(force=True)
            vm.destroy()
        # Closing the connection removes its sockets.
    assert not os.path.exists(path)
    assert not os.path.exists(os.path.dirname(path))
    assert qemu_processes(qemu_root) == []


def test_console_errors_come_back_as_the_remote_side_gives_them(sshd, state):
    with qv.connect(sshd.uri("noop", state)) as c, qv.connect("noop://" + state) as local:
        c.create_vm("rq-noop")
        with pytest.raises(qv.UnsupportedError) as remote_err:
            c.lookup("rq-noop").console_endpoint
        with pytest.raises(qv.UnsupportedError) as local_err:
            local.lookup("rq-noop").console_endpoint
        assert str(remote_err.value) == str(local_err.value)
        assert remote_err.value.origin == local_err.value.origin


def test_qemu_guest_lifecycle_over_ssh_checked_on_the_remote_side(sshd, qemu_root, kernel):
    """define, start, state, console, pause, stop, undefine through
    qemu+ssh://, each step checked through the remote host's own
    qemu:///session and its processes."""
    remote = "qemu:///session?root=%s" % qemu_root
    with qv.connect(sshd.uri("qemu", "/session", root=qemu_root)) as c, \
            qv.connect(remote) as local:
        vm = c.define_xml(echo_xml("rq-life", kernel))
        try:
            assert local.vm_names() == ["rq-life"]
            assert local.lookup("rq-life").state is qv.State.CREATED
            assert (qemu_root / "qemu" / "rq-life" / "domain.xml").is_file()
            assert qemu_processes(qemu_root) == []

            vm.start()
            assert vm.state is qv.State.RUNNING
            assert local.lookup("rq-life").state is qv.State.RUNNING
            assert len(qemu_processes(qemu_root)) == 1
            wait_for(lambda: READY in console_log(qemu_root, "rq-life"), 60, "the guest's banner")
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(vm.console_endpoint[5:])
                s.sendall(b"lifecycle")
                assert read_until(s.fileno(), b"", b"lifecycle").endswith(b"lifecycle")

            # Statistics come from the remote side's QEMU (the core alone
            # would have no CPU time).
            s = vm.stats()
            assert s["cpu.time"] > 0 and s["vcpu.0.state"] == 1 and s["state.state"] == 1
            assert local.lookup("rq-life").stats().keys() == s.keys()
            assert vm.live_settings() == local.lookup("rq-life").live_settings()
            assert "vcpu.0.cpus" in vm.live_settings()

            vm.pause()
            assert local.lookup("rq-life").state is qv.State.PAUSED
            vm.resume()
            assert local.lookup("rq-life").state is qv.State.RUNNING

            # The echo guest has no ACPI: a graceful stop would wait out
            # its timeout, so force it, as `qv vm stop --force` does.
            vm.stop(force=True)
            assert vm.state is qv.State.STOPPED
            assert local.lookup("rq-life").state is qv.State.STOPPED
            wait_for(lambda: qemu_processes(qemu_root) == [], 10, "QEMU to exit")
        finally:
            if vm.state in (qv.State.RUNNING, qv.State.PAUSED):
                vm.stop(force=True)
            vm.destroy()
        assert local.vm_names() == []
        assert not (qemu_root / "qemu" / "rq-life").exists()
        with pytest.raises(qv.NotFoundError) as e:
            c.lookup("rq-life")
        assert e.value.origin == "qemu"
    assert qemu_processes(qemu_root) == []
