"""kvm+ssh:// and kvm+pipe://: the remote host's kvm:///session, each VM in
its own qv-vmm there, through the real sshd on 127.0.0.1 (conftest.py).
qv-vmm hosts a noop VM (vmm_uri=noop:///), so this runs without /dev/kvm;
the last test boots a real KVM guest and is skipped where /dev/kvm is not
usable. The remote host is this machine, so what it holds is checked
directly: the VM's directory under the remote root, runtime.json, the
qv-vmm process, and kvm:///session?root=DIR opened here."""

import json
import os
import select
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

import qv

QV = os.environ.get("QV_CLI", "")
VMM = os.environ.get("QV_VMM", "")
GUESTS = Path(os.environ.get("QV_BUILD_DIR", ".")) / "tests" / "guests"

XML = ("<domain type='kvm'><name>{name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
       "<os><type arch='x86_64'>hvm</type></os></domain>")
NOOP = "noop:///"


@pytest.fixture
def root(tmp_path):
    """The remote host's state root for the test; whatever qv-vmm a failed
    test left running goes with it."""
    d = tmp_path / "root"
    d.mkdir(mode=0o700)
    yield d
    for rt in d.glob("kvm/*/runtime.json"):
        try:
            pid = json.loads(rt.read_text())["pid"]
            if b"qv-vmm" in Path("/proc/%d/cmdline" % pid).read_bytes():
                os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, KeyError):
            pass


def ssh_uri(sshd, root, qv_bin, path="/session", **params):
    return sshd.uri("kvm", path, qv=qv_bin, root=root, vmm_uri=NOOP, **params)


def local_uri(root):
    """The remote host's own view of the same VMs."""
    return "kvm:///session?root=%s&vmm_uri=%s" % (root, NOOP)


def vm_dir(root, name):
    return root / "kvm" / name


def runtime(root, name):
    return json.loads((vm_dir(root, name) / "runtime.json").read_text())


def cmdline(pid):
    return Path("/proc/%d/cmdline" % pid).read_bytes().rstrip(b"\0").split(b"\0")


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out after %d s waiting for %s" % (timeout, what))


def read_all(path, timeout=30):
    """Everything a console socket sends until it closes."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)
        s.settimeout(timeout)
        out = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return out
            out += chunk


def read_until(fd, want, timeout=60):
    buf = b""
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


def test_lifecycle_over_ssh_checked_on_the_remote_side(sshd, vmm_bin, root):
    """define, start, state, pause, resume, console, stop, undefine through
    kvm+ssh://HOST/session, each step checked on the remote side."""
    d = vm_dir(root, "ks-life")
    with qv.connect(ssh_uri(sshd, root, vmm_bin)) as c, qv.connect(local_uri(root)) as local:
        assert c.driver == "remote"
        assert c.state_dir == str(root)
        vm = c.define_xml(XML.format(name="ks-life"))
        try:
            assert local.vm_names() == ["ks-life"]
            assert (d / "domain.xml").is_file()
            assert stat.S_IMODE(d.stat().st_mode) == 0o700
            assert vm.state is qv.State.CREATED
            assert local.lookup("ks-life").state is qv.State.CREATED

            vm.start()
            assert vm.state is qv.State.RUNNING
            assert local.lookup("ks-life").state is qv.State.RUNNING
            rt = runtime(root, "ks-life")
            pid = rt["pid"]
            assert alive(pid)
            # The remote qv found the qv-vmm installed beside it.
            argv = cmdline(pid)
            assert argv[0] == str(Path(vmm_bin).parent / "qv-vmm").encode(), argv
            assert argv[-2:] == [b"--dir", str(d).encode()], argv
            assert os.getsid(pid) == pid
            assert stat.S_IMODE((d / "qmp.sock").stat().st_mode) == 0o600

            vm.pause()
            assert vm.state is qv.State.PAUSED
            assert local.lookup("ks-life").state is qv.State.PAUSED
            vm.resume()
            assert local.lookup("ks-life").state is qv.State.RUNNING

            # A noop VM has no serial console: qv-vmm says so in
            # console.log, which the remote side gives as the endpoint and
            # the tunnel carries, read-only.
            assert local.lookup("ks-life").console_endpoint == "file:%s/console.log" % d
            ep = vm.console_endpoint
            assert ep.startswith("unix:") and not ep.startswith("unix:%s" % root), ep
            assert stat.S_IMODE(os.stat(ep[5:]).st_mode) == 0o600
            log = (d / "console.log").read_bytes()
            assert b"no console to relay" in log
            assert read_all(ep[5:]) == log

            vm.stop()
            assert vm.state is qv.State.STOPPED
            assert vm.info.reason is not qv.Reason.CRASHED
            assert local.lookup("ks-life").state is qv.State.STOPPED
            wait_for(lambda: not alive(pid), 30, "qv-vmm to exit")
            assert not (d / "runtime.json").exists()
        finally:
            if vm.state in (qv.State.RUNNING, qv.State.PAUSED):
                vm.stop(force=True)
            vm.destroy()
        assert local.vm_names() == []
        assert not d.exists()
        with pytest.raises(qv.NotFoundError) as e:
            c.lookup("ks-life")
        assert e.value.origin == "kvm"


def test_the_vm_outlives_the_connection_and_its_sshd(sshd, vmm_bin, root):
    """The point of kvm:///session: the qv-vmm is no child of the SSH
    session, so neither closing the connection nor the whole sshd going
    away touches the VM, and a new connection finds it running."""
    uri = ssh_uri(sshd, root, vmm_bin)
    with qv.connect(uri) as c:
        vm = c.define_xml(XML.format(name="ks-keep"))
        vm.start()
        pid = runtime(root, "ks-keep")["pid"]
        assert sshd.helpers(vmm_bin)
    wait_for(lambda: not sshd.helpers(vmm_bin), 10, "the helper to exit")
    # An exiting helper's command line reads empty before the kernel hands
    # its children to init: allow that moment.
    wait_for(lambda: pid not in sshd.descendants(), 10, "qv-vmm to leave the SSH session")
    assert alive(pid)
    # Every sshd process gone, as when the host's sshd restarts.
    sshd.kill_all()
    assert alive(pid)
    sshd.start()
    with qv.connect(uri) as c2:
        vm = c2.lookup("ks-keep")
        assert vm.state is qv.State.RUNNING
        assert runtime(root, "ks-keep")["pid"] == pid
        vm.pause()
        assert vm.state is qv.State.PAUSED
        vm.stop(force=True)
        assert vm.state is qv.State.STOPPED
        wait_for(lambda: not alive(pid), 30, "qv-vmm to exit")
        vm.destroy()
    assert not vm_dir(root, "ks-keep").exists()


def test_a_killed_vmm_is_reported_crashed_through_ssh(sshd, vmm_bin, root):
    with qv.connect(ssh_uri(sshd, root, vmm_bin)) as c, qv.connect(local_uri(root)) as local:
        vm = c.define_xml(XML.format(name="ks-crash"))
        vm.start()
        pid = runtime(root, "ks-crash")["pid"]
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not alive(pid), 30, "qv-vmm to die")
        info = vm.info
        assert info.state is qv.State.STOPPED and info.reason is qv.Reason.CRASHED
        assert local.lookup("ks-crash").info.reason is qv.Reason.CRASHED
        assert [v.name for v in c.list_vms()] == ["ks-crash"]
        # It starts again, in a new qv-vmm.
        vm.start()
        pid2 = runtime(root, "ks-crash")["pid"]
        assert pid2 != pid and alive(pid2)
        vm.destroy()
        wait_for(lambda: not alive(pid2), 30, "qv-vmm to exit")


def test_memory_and_vcpu_calls_are_refused_naming_the_remote_session(sshd, vmm_bin, root):
    with qv.connect(ssh_uri(sshd, root, vmm_bin)) as c:
        vm = c.define_xml(XML.format(name="ks-regs"))
        vm.start()
        try:
            for call in (lambda: vm.read_memory(0, 16), lambda: vm.write_memory(0, b"x"),
                         lambda: vm.vcpu(0), lambda: vm.add_vcpu(1),
                         lambda: vm.add_memory_region(0, 4096)):
                with pytest.raises(qv.UnsupportedError) as e:
                    call()
                msg = str(e.value)
                assert e.value.origin == "remote"
                assert "is not available over a remote connection" in msg, msg
                assert "VM 'ks-regs' of kvm:///session, reached through 127.0.0.1" in msg, msg
                # The URI's parameters (keyfile paths, root) are not in it.
                assert "?" not in msg and str(root) not in msg, msg
            assert vm.state is qv.State.RUNNING
        finally:
            vm.destroy()


def test_the_cli_drives_a_kvm_ssh_vm(sshd, vmm_bin, root, tmp_path):
    uri = ssh_uri(sshd, root, vmm_bin)
    xml = tmp_path / "ks-cli.xml"
    xml.write_text(XML.format(name="ks-cli"))

    def cli(*args, check=True):
        r = subprocess.run([QV, "-c", uri, *args], capture_output=True, text=True,
                           timeout=120, env=dict(os.environ, LC_ALL="C.UTF-8"))
        if check:
            assert r.returncode == 0, "qv %s: %s%s" % (" ".join(args), r.stdout, r.stderr)
        return r

    def state():
        lines = [l for l in cli("vm", "show", "ks-cli").stdout.splitlines()
                 if l.strip().lower().startswith("state")]
        assert lines
        return lines[0].lower()

    cli("vm", "create", "--xml", str(xml))
    assert "created" in state()
    cli("vm", "start", "ks-cli")
    # `qv vm start` has exited, and with it its SSH session; the VM runs on.
    pid = runtime(root, "ks-cli")["pid"]
    assert alive(pid)
    assert "running" in state()
    assert "ks-cli" in cli("vm", "list").stdout.split()
    cli("vm", "pause", "ks-cli")
    assert "paused" in state()
    cli("vm", "resume", "ks-cli")
    assert "running" in state()
    # The console comes through the tunnel: here the log of a VM without one.
    out = cli("vm", "console", "ks-cli", check=False)
    assert "no console to relay" in out.stdout, out
    assert out.stdout.encode() == (vm_dir(root, "ks-cli") / "console.log").read_bytes()
    cli("vm", "stop", "ks-cli")
    assert "stopped" in state()
    wait_for(lambda: not alive(pid), 30, "qv-vmm to exit")
    cli("vm", "destroy", "ks-cli")
    assert not vm_dir(root, "ks-cli").exists()
    r = cli("vm", "show", "ks-cli", check=False)
    assert r.returncode != 0 and "ks-cli" in r.stderr


def test_a_remote_without_qv_vmm_says_so(sshd, root):
    # The build tree's qv has no qv-vmm beside it, and sshd passes no
    # $QV_VMM: what a host with qv but not qv-vmm installed gives.
    with pytest.raises(qv.NotFoundError) as e:
        qv.connect(ssh_uri(sshd, root, QV))
    msg = str(e.value)
    assert e.value.origin == "kvm"
    assert msg.startswith("on 127.0.0.1: ") and "install it beside qv" in msg, msg
    assert str(Path(QV).parent / "qv-vmm") in msg, msg


# ---- kvm+pipe:// and the URI mapping (no sshd) ----

def pipe_uri(path, **params):
    params.setdefault("qv", QV)
    return "kvm+pipe://%s?%s" % (path, "&".join("%s=%s" % kv for kv in params.items()))


def test_kvm_pipe_lifecycle_and_the_vm_outlives_the_helper(root):
    # The helper is a child of this process and inherits $QV_VMM.
    uri = pipe_uri("/session", root=root, vmm_uri=NOOP)
    with qv.connect(uri) as c, qv.connect(local_uri(root)) as local:
        vm = c.define_xml(XML.format(name="kp-life"))
        assert local.lookup("kp-life").state is qv.State.CREATED
        vm.start()
        pid = runtime(root, "kp-life")["pid"]
        assert cmdline(pid)[0] == VMM.encode()
        assert local.lookup("kp-life").state is qv.State.RUNNING
        vm.pause()
        assert local.lookup("kp-life").state is qv.State.PAUSED
        vm.resume()
        assert local.lookup("kp-life").state is qv.State.RUNNING
    assert alive(pid)
    with qv.connect(uri) as c:
        vm = c.lookup("kp-life")
        assert vm.state is qv.State.RUNNING
        vm.stop()
        assert vm.state is qv.State.STOPPED
        wait_for(lambda: not alive(pid), 30, "qv-vmm to exit")
        vm.destroy()
        assert c.vm_names() == []
    assert not vm_dir(root, "kp-life").exists()


def test_system_is_the_hosts_system_wide_root_and_session_the_users(root, tmp_path,
                                                                    monkeypatch):
    # The helper is our child: its user's default root is $QV_STATE_DIR,
    # which /session takes and /system overrides with the host's
    # system-wide root, as for qemu+ssh://; an explicit root= wins.
    monkeypatch.setenv("QV_STATE_DIR", str(root))
    with qv.connect(pipe_uri("/session", vmm_uri=NOOP)) as c:
        assert c.state_dir == str(root)
    existed = os.path.exists("/var/lib/qv")
    with qv.connect(pipe_uri("/system", vmm_uri=NOOP)) as c:
        assert c.state_dir == "/var/lib/qv"
    # Opening it creates nothing there.
    assert os.path.exists("/var/lib/qv") == existed
    other = tmp_path / "other"
    with qv.connect(pipe_uri("/system", root=other, vmm_uri=NOOP)) as c:
        assert c.state_dir == str(other)


def test_embed_and_other_paths_are_refused_naming_why():
    with pytest.raises(qv.UnsupportedError) as e:
        qv.connect(pipe_uri("/embed"))
    msg = str(e.value)
    assert "kvm:///embed" in msg and "die with the connection" in msg, msg
    assert "/session" in msg and "/system" in msg, msg
    # Refused before anything is reached (port 1 has no sshd).
    with pytest.raises(qv.UnsupportedError):
        qv.connect("kvm+ssh://127.0.0.1:1/embed")
    for path in ("/", "/other", ""):
        with pytest.raises(qv.URIError) as e:
            qv.connect("kvm+ssh://127.0.0.1:1%s" % path)
        msg = str(e.value)
        assert "/system" in msg and "/session" in msg, msg


def kvm_usable():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def test_a_kvm_guest_through_ssh(sshd, vmm_bin, root):
    """The echo guest (tests/guests) on kvm:///embed inside the remote
    qv-vmm, typed to through the tunnelled console."""
    if not kvm_usable():
        pytest.skip("/dev/kvm is not usable here: no KVM guest can run in the remote qv-vmm")
    kernel = GUESTS / "echo.elf"
    if not kernel.is_file():
        pytest.skip("%s was not built (the guest payloads need nasm and ld)" % kernel)
    xml = ("<domain type='kvm'><name>ks-echo</name><memory unit='MiB'>32</memory>"
           "<vcpu>1</vcpu><os><type arch='x86_64'>hvm</type><kernel>%s</kernel></os>"
           "<devices><serial type='pty'><target port='0'/></serial></devices>"
           "</domain>" % kernel)
    d = vm_dir(root, "ks-echo")
    with qv.connect(sshd.uri("kvm", "/session", qv=vmm_bin, root=root)) as c:
        vm = c.define_xml(xml)
        try:
            vm.start()
            assert vm.state is qv.State.RUNNING
            pid = runtime(root, "ks-echo")["pid"]
            argv = cmdline(pid)
            assert argv[1] == b"--uri" and argv[2].startswith(b"kvm:///embed"), argv
            wait_for(lambda: b"echo: ready" in (d / "console.log").read_bytes(), 60,
                     "the guest's banner")
            ep = vm.console_endpoint
            assert ep.startswith("unix:"), ep
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(ep[5:])
                s.sendall(b"over ssh\n")
                buf = read_until(s.fileno(), b"echo: OVER SSH\n")
                assert b"echo: OVER SSH\n" in buf, buf
            vm.stop(force=True)
            assert vm.state is qv.State.STOPPED
            wait_for(lambda: not alive(pid), 30, "qv-vmm to exit")
        finally:
            if vm.state in (qv.State.RUNNING, qv.State.PAUSED):
                vm.stop(force=True)
            vm.destroy()
