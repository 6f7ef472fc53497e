"""qv-vmm's Landlock domain as seen from inside, on a kvm:///session VM
started through the qv CLI: qv-vmm-test (qv-vmm with test hooks; the same
main and the same ruleset) tries to open, create, rename and connect and
reports the errno it got. The session writes runtime.json; qv-vmm can
neither write it nor replace it, nor read domain.xml, /etc/passwd or
$HOME, while console.log, its disk and its driver's store stay usable and
snapshots are taken, restored and deleted through it. qv-vmm hosts a
noop:///DIR VM (vmm_uri=), so this runs without /dev/kvm; it is skipped
where the kernel has no Landlock."""
import ctypes
import errno
import json
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import kill_left_vmms

QV = os.environ.get("QV_CLI")
VMM_TEST = os.environ.get("QV_VMM_TEST")

XML = """<domain type='kvm'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>
"""

SYS_landlock_create_ruleset = 444  # x86-64
LANDLOCK_CREATE_RULESET_VERSION = 1


def landlock_abi():
    libc = ctypes.CDLL(None, use_errno=True)
    v = libc.syscall(SYS_landlock_create_ruleset, None, ctypes.c_size_t(0),
                     ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    return v if v > 0 else 0


ABI = landlock_abi()


@pytest.fixture
def env(tmp_path):
    if not QV or not VMM_TEST or not os.access(VMM_TEST, os.X_OK):
        pytest.fail("QV_CLI and QV_VMM_TEST must name the built binaries (run through ctest)")
    if ABI == 0:
        pytest.skip("this kernel has no Landlock (not built in, or not in lsm=)")
    root, store, images, home = (tmp_path / d for d in ("root", "store", "images", "home"))
    for d in (root, store, images, home):
        d.mkdir(mode=0o700)
    e = {"root": root, "store": store, "images": images, "home": home, "tmp": tmp_path,
         "uri": f"kvm:///session?root={root}&vmm_uri=noop://{store}",
         # qv-vmm inherits the environment of the `qv` that starts it.
         "penv": {**os.environ, "QV_VMM": VMM_TEST, "HOME": str(home)}}
    yield e
    kill_left_vmms(root)


def qv(e, *args):
    p = subprocess.run([QV, "-c", e["uri"], *args], capture_output=True, text=True,
                       timeout=60, env=e["penv"])
    assert p.returncode == 0, f"qv {' '.join(args)}: {p.stdout}{p.stderr}"
    assert "Sanitizer" not in p.stderr and "runtime error" not in p.stderr, p.stderr
    return p


def qmp(sock_path, command, args=None):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(sock_path))
        f = s.makefile("rwb")
        json.loads(f.readline())
        out = None
        for cmd, a in (("qmp_capabilities", None), (command, args)):
            msg = {"execute": cmd}
            if a:
                msg["arguments"] = a
            f.write(json.dumps(msg).encode() + b"\n")
            f.flush()
            while True:
                reply = json.loads(f.readline())
                if "return" in reply or "error" in reply:
                    out = reply
                    break
        return out


def start(e, name="l"):
    disk = e["images"] / f"{name}.img"
    disk.write_bytes(b"\0" * 65536)
    (e["images"] / "neighbour.txt").write_text("not the VM's\n")
    xml = e["tmp"] / f"{name}.xml"
    xml.write_text(XML.format(name=name, uuid=uuid.uuid4(), disk=disk))
    qv(e, "vm", "create", "--xml", str(xml))
    qv(e, "vm", "start", name)
    d = e["root"] / "kvm" / name
    pid = json.loads((d / "runtime.json").read_text())["pid"]
    assert Path(f"/proc/{pid}/exe").resolve() == Path(VMM_TEST).resolve()
    return d, disk, pid


def inside(d, command, **args):
    """The errno qv-vmm got trying it (0: allowed)."""
    r = qmp(d / "qmp.sock", command, args)
    assert "return" in r, r
    return r["return"]["errno"]


def test_files_outside_the_ruleset_are_refused(env):
    d, disk, pid = start(env)
    (env["home"] / "secret").write_text("the user's\n")
    runtime_before = (d / "runtime.json").read_bytes()

    def opens(path, mode="read"):
        return inside(d, "x-qv-test-open", path=str(path), mode=mode)

    # What it needs from now on.
    assert opens(d / "console.log", "write") == 0
    assert opens(disk, "write") == 0 and opens(disk) == 0
    assert opens("/proc/self/status") == 0
    # The user's files and the system's: world-readable /etc/passwd
    # included, so only Landlock can refuse it.
    assert os.access("/etc/passwd", os.R_OK)
    assert opens("/etc/passwd") == errno.EACCES
    assert opens(env["home"] / "secret") == errno.EACCES
    assert opens(env["images"] / "neighbour.txt") == errno.EACCES
    assert opens(env["images"] / "new.img", "create") == errno.EACCES
    # The records qv writes and trusts: not writable, not readable, not
    # replaceable by a file qv-vmm controls, and no new file beside them.
    assert opens(d / "runtime.json", "write") == errno.EACCES
    assert opens(d / "runtime.json") == errno.EACCES
    assert opens(d / "domain.xml") == errno.EACCES
    assert opens(d / "planted", "create") == errno.EACCES
    assert not (d / "planted").exists()
    assert inside(d, "x-qv-test-rename", **{"from": str(d / "console.log"),
                                            "to": str(d / "runtime.json")}) == errno.EACCES
    assert (d / "runtime.json").read_bytes() == runtime_before
    # No program to run either (also killed by seccomp, were it tried).
    assert opens("/bin/sh") == errno.EACCES
    # Nor a way out of its cgroup: no cgroup.procs is writable, however
    # much the user may write there.
    procs = [p for p in [Path("/sys/fs/cgroup/cgroup.procs"),
                         *Path("/sys/fs/cgroup").glob("*/cgroup.procs")]
             if p.exists() and os.access(p, os.W_OK)]
    for p in procs:
        assert opens(p, "write") == errno.EACCES, p
    assert "running" in qv(env, "vm", "show", "l").stdout.lower()


def test_network_and_scopes(env):
    d, _, _ = start(env)
    if ABI >= 4:
        # No user NIC: no TCP at all, not even to the loopback.
        with socket.socket() as srv:
            srv.bind(("127.0.0.1", 0))
            srv.listen(1)
            port = srv.getsockname()[1]
            assert inside(d, "x-qv-test-connect", port=port) == errno.EACCES
    if ABI >= 6:
        # Abstract unix sockets outside its domain are out of reach;
        # path-named ones are not scoped (its QMP clients use those).
        name = f"qv-landlock-test-{os.getpid()}"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as srv:
            srv.bind("\0" + name)
            srv.listen(1)
            assert inside(d, "x-qv-test-connect", path="@" + name) == errno.EPERM
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as srv:
            path = env["tmp"] / "plain.sock"
            srv.bind(str(path))
            srv.listen(1)
            assert inside(d, "x-qv-test-connect", path=str(path)) == 0


def test_snapshots_work_inside_the_domain(env):
    d, _, pid = start(env)
    qv(env, "vm", "snapshot", "create", "l", "--name", "s1")
    qv(env, "vm", "snapshot", "create", "l", "--name", "s2")
    out = qv(env, "vm", "snapshot", "list", "l").stdout
    assert "s1" in out and "s2" in out, out
    qv(env, "vm", "snapshot", "restore", "l", "--name", "s1")
    qv(env, "vm", "snapshot", "delete", "l", "--name", "s2")
    out = qv(env, "vm", "snapshot", "list", "l").stdout
    assert "s1" in out and "s2" not in out, out
    assert json.loads((d / "runtime.json").read_text())["pid"] == pid
    assert "running" in qv(env, "vm", "show", "l").stdout.lower()
    # The store is the driver's; the snapshot is there for the next run.
    assert (env["store"] / "l" / "snapshots").is_dir()
    # Its end: sockets removed by qv-vmm itself, a clean stop.
    qv(env, "vm", "stop", "l")
    assert not (d / "qmp.sock").exists() and not (d / "status.sock").exists()
    show = qv(env, "vm", "show", "l").stdout.lower()
    assert "stopped" in show and "crash" not in show, show


def test_exit_record_of_a_guest_power_off(env):
    """exit.json, made empty before the domain and filled in at exit, still
    tells the session a clean end from a crash."""
    d, _, pid = start(env)
    assert (d / "exit.json").read_bytes() == b""
    r = qmp(d / "qmp.sock", "system_powerdown")
    assert "return" in r, r
    # noop has no guest to ask: it is forced off and qv-vmm exits 0.
    for _ in range(400):
        if not Path(f"/proc/{pid}").exists() or \
           Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.05)
    assert json.loads((d / "exit.json").read_text()) == {"code": 0}
    show = qv(env, "vm", "show", "l").stdout.lower()
    assert "stopped" in show and "crash" not in show, show


def start_with_unix_console(env, name, sock):
    """A VM whose serial console listens on the unix socket sock, started;
    its state directory."""
    disk = env["images"] / f"{name}.img"
    disk.write_bytes(b"\0" * 65536)
    serial = (f"<serial type='unix'><source mode='bind' path='{sock}'/>"
              "<target port='0'/></serial>")
    xml = env["tmp"] / f"{name}.xml"
    xml.write_text(XML.format(name=name, uuid=uuid.uuid4(), disk=disk)
                   .replace("</devices>", serial + "</devices>"))
    qv(env, "vm", "create", "--xml", str(xml))
    qv(env, "vm", "start", name)
    return env["root"] / "kvm" / name


def test_listening_unix_console_directory_only_takes_sockets(env):
    """A listening <serial type='unix'> in a directory of the user's (here
    $HOME): qv-vmm may bind its socket there but neither remove nor
    rename anything in it, since Landlock's remove right would cover the
    whole tree under it. A socket an earlier run left at the path is
    removed before the domain; a file of another kind there is left."""
    sock = env["home"] / "serial.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sock))
    stale.close()
    assert sock.is_socket()
    victim = env["home"] / "thesis.txt"
    victim.write_text("the user's\n")
    d = start_with_unix_console(env, "u", sock)
    assert not sock.exists(), "the stale socket was not removed before the domain"
    for target in (victim, env["home"] / "moved.txt"):
        r = inside(d, "x-qv-test-rename", **{"from": str(victim), "to": str(target)})
        assert r == errno.EACCES, (target, r)
    assert inside(d, "x-qv-test-open", path=str(env["home"] / "new"), mode="create") \
        == errno.EACCES
    assert victim.read_text() == "the user's\n"


def test_a_file_at_the_console_socket_path_is_not_removed(env):
    sock = env["home"] / "serial.sock"
    sock.write_text("not a socket\n")
    start_with_unix_console(env, "f", sock)
    assert sock.read_text() == "not a socket\n"


def test_a_live_socket_at_the_console_path_is_not_removed(env):
    """Someone listens there (another VM, say a clone's source): the socket
    is theirs, not a stale one."""
    sock = env["home"] / "serial.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as srv:
        srv.bind(str(sock))
        srv.listen(1)
        start_with_unix_console(env, "l2", sock)
        assert sock.is_socket()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.connect(str(sock))
