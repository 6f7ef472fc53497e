"""kvm:///session end to end through the qv CLI: every VM runs in its own
qv-vmm process, which outlives the `qv` that started it, and every later
`qv` (a new process, a new connection) finds it again through runtime.json,
checking the process's identity. qv-vmm hosts a noop:/// VM here
(vmm_uri=noop:///), so this runs on hosts without /dev/kvm; a real KVM
guest in qv-vmm is test_session_kvm.py's."""
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from conftest import kill_left_vmms

QV = os.environ.get("QV_CLI")
VMM = os.environ.get("QV_VMM")

XML = """<domain type='kvm'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
</domain>
"""


@pytest.fixture
def env(tmp_path):
    if not QV or not VMM:
        pytest.fail("QV_CLI and QV_VMM must be set (run through ctest)")
    root = tmp_path / "root"
    root.mkdir()
    e = {"root": root, "tmp": tmp_path,
         "uri": f"kvm:///session?root={root}&vmm_uri=noop:///"}
    yield e
    kill_left_vmms(root)


def qv(e, *args, check=True, timeout=60, uri=None):
    p = subprocess.run([QV, "-c", uri or e["uri"], *args], capture_output=True, text=True,
                       timeout=timeout)
    if check:
        assert p.returncode == 0, f"qv {' '.join(args)}: {p.stdout}{p.stderr}"
    return p


def create(e, name, uri=None):
    xml = e["tmp"] / f"{name}.xml"
    xml.write_text(XML.format(name=name))
    qv(e, "vm", "create", "--xml", str(xml), uri=uri)


def state_line(e, name):
    out = qv(e, "vm", "show", name).stdout
    lines = [l for l in out.splitlines() if l.strip().lower().startswith("state")]
    assert lines, out
    return lines[0].lower()


def vm_dir(e, name):
    return e["root"] / "kvm" / name


def runtime(e, name):
    return json.loads((vm_dir(e, name) / "runtime.json").read_text())


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pid, timeout=10):
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


def test_start_outlives_the_caller_and_later_callers_drive_it(env):
    create(env, "a")
    d = vm_dir(env, "a")
    assert (d / "domain.xml").is_file()
    assert oct(d.stat().st_mode & 0o777) == "0o700"
    assert "created" in state_line(env, "a")
    qv(env, "vm", "start", "a")
    # The `qv vm start` process has exited; its qv-vmm runs on.
    rt = runtime(env, "a")
    pid = rt["pid"]
    assert alive(pid)
    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    assert cmd[0] == VMM.encode() and cmd[-2:] == [b"--dir", str(d).encode()]
    assert rt["cmdline"].endswith(f"--dir {d}")
    # Its own session: a terminal's signals to the caller do not reach it.
    assert os.getsid(pid) == pid
    assert oct((d / "qmp.sock").stat().st_mode & 0o777) == "0o600"
    assert "running" in state_line(env, "a")
    listed = qv(env, "vm", "list").stdout
    assert "a" in listed.split()

    stats = json.loads(qv(env, "vm", "stats", "a", "--json").stdout)["stats"]
    assert int(stats["balloon.rss"]) > 0 and "cpu.time" in stats, stats
    qv(env, "vm", "pause", "a")
    assert "paused" in state_line(env, "a")
    qv(env, "vm", "resume", "a")
    assert "running" in state_line(env, "a")
    qv(env, "vm", "reset", "a")
    assert "running" in state_line(env, "a")
    # Starting it again is refused, naming why.
    p = qv(env, "vm", "start", "a", check=False)
    assert p.returncode != 0 and "it is running" in p.stderr, p.stderr

    qv(env, "vm", "stop", "a")
    assert wait_gone(pid)
    st = state_line(env, "a")
    assert "stopped" in st and "crash" not in st
    assert not (d / "runtime.json").exists()
    assert not (d / "qmp.sock").exists()
    # A stopped VM starts again, in a new qv-vmm.
    qv(env, "vm", "start", "a")
    pid2 = runtime(env, "a")["pid"]
    assert pid2 != pid and alive(pid2)
    qv(env, "vm", "stop", "--force", "a")
    assert wait_gone(pid2)


def test_killed_vmm_is_reported_crashed(env):
    create(env, "k")
    qv(env, "vm", "start", "k")
    pid = runtime(env, "k")["pid"]
    os.kill(pid, signal.SIGKILL)
    assert wait_gone(pid)
    st = state_line(env, "k")
    assert "stopped" in st and "crash" in st, st
    # The record of the dead process is gone; the reason stays.
    assert not (vm_dir(env, "k") / "runtime.json").exists()
    assert "crash" in state_line(env, "k")
    assert "k" not in qv(env, "vm", "list").stdout.split()
    assert "k" in qv(env, "vm", "list", "--all").stdout.split()
    # And it starts again.
    qv(env, "vm", "start", "k")
    assert "running" in state_line(env, "k")


def test_record_naming_another_process_is_not_adopted(env):
    create(env, "f")
    qv(env, "vm", "start", "f")
    d = vm_dir(env, "f")
    real = runtime(env, "f")
    qv(env, "vm", "stop", "--force", "f")
    assert wait_gone(real["pid"])
    # A live process that is not this VM's qv-vmm: the old record with its
    # pid, and then with its pid and start time too.
    other = subprocess.Popen(["sleep", "300"])
    try:
        start_time = int(Path(f"/proc/{other.pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        for fake in ({**real, "pid": other.pid},
                     {**real, "pid": other.pid, "start_time": start_time}):
            (d / "runtime.json").write_text(json.dumps(fake))
            st = state_line(env, "f")
            assert "running" not in st and "paused" not in st, st
            assert other.poll() is None, "the other process was signalled"
            # A start is not refused as 'already running', and the new
            # qv-vmm is the VM's own.
            qv(env, "vm", "start", "f")
            rt = runtime(env, "f")
            assert rt["pid"] != other.pid and alive(rt["pid"])
            qv(env, "vm", "stop", "--force", "f")
            assert wait_gone(rt["pid"])
            assert other.poll() is None, "the other process was signalled"
            # Neither stop nor destroy touches a process a record wrongly names.
        (d / "runtime.json").write_text(json.dumps({**real, "pid": other.pid}))
        qv(env, "vm", "destroy", "f")
        assert other.poll() is None
        assert not d.exists()
    finally:
        other.kill()
        other.wait()


def test_concurrent_starts_serialise(env):
    create(env, "c")
    procs = [subprocess.Popen([QV, "-c", env["uri"], "vm", "start", "c"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    ok = [r for r in results if r[0] == 0]
    assert len(ok) == 1, results
    for rc, err in results:
        if rc != 0:
            assert "is running" in err or "already running" in err, err
    pid = runtime(env, "c")["pid"]
    vmms = [p for p in os.listdir("/proc") if p.isdigit() and alive(int(p))
            and f"--dir {vm_dir(env, 'c')}" in
            Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")]
    assert vmms == [str(pid)], vmms


def test_destroy_of_a_running_vm_stops_its_vmm_and_removes_it(env):
    create(env, "d")
    qv(env, "vm", "start", "d")
    pid = runtime(env, "d")["pid"]
    qv(env, "vm", "destroy", "d")
    assert wait_gone(pid)
    assert not vm_dir(env, "d").exists()
    p = qv(env, "vm", "show", "d", check=False)
    assert p.returncode != 0 and "no VM named 'd'" in p.stderr


def python(e, code):
    p = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout.strip()


def test_console_endpoint_and_refusals(env):
    create(env, "e")
    d = vm_dir(env, "e")
    get_ep = f"import qv; print(qv.connect({env['uri']!r}).lookup('e').console_endpoint)"
    assert python(env, get_ep) == f"file:{d}/console.log"
    qv(env, "vm", "start", "e")
    # noop:/// has no serial console, so qv-vmm relays none (no
    # console.sock) and says so in console.log, which is the endpoint; with
    # a console (kvm:///embed, test_embed_inside_vmm) it is console.sock.
    assert python(env, get_ep) == f"file:{d}/console.log"
    assert not (d / "console.sock").exists()
    out = qv(env, "vm", "console", "e")
    assert "no console to relay" in out.stdout and "console.log" in out.stderr, out
    # What a separate process cannot give is refused naming the mode.
    out = python(env, f"""
import qv
vm = qv.connect({env['uri']!r}).lookup('e')
for call in (lambda: vm.read_memory(0, 16), lambda: vm.vcpu(0)):
    try:
        call()
        print('accepted')
    except qv.Error as e:
        print(e)
""").splitlines()
    assert len(out) == 2, out
    assert "kvm:///session" in out[0] and "guest memory" in out[0], out
    assert "kvm:///session" in out[1] and "register-level" in out[1], out
    (env["tmp"] / "x.img").write_bytes(b"\0" * 65536)
    p = qv(env, "vm", "disk-add", "e", "--path", str(env["tmp"] / "x.img"), "--target", "vdb",
           check=False)
    assert p.returncode != 0
    assert "kvm:///session" in p.stderr and "hot-plug" in p.stderr, p.stderr


def test_bad_vmm_uri_and_missing_vmm(env):
    p = qv(env, "vm", "list", check=False,
           uri=f"kvm:///session?root={env['root']}&vmm_uri=kvm:///session")
    assert p.returncode != 0 and "vmm_uri" in p.stderr
    bad = subprocess.run([QV, "-c", env["uri"], "vm", "list"], capture_output=True, text=True,
                         env={**os.environ, "QV_VMM": "relative/qv-vmm"}, timeout=60)
    assert bad.returncode != 0 and "QV_VMM" in bad.stderr


def kvm_usable():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def qmp_send(sock_path, command):
    """One command on a QMP socket, as any QMP client would send it."""
    import socket
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(str(sock_path))
        f = s.makefile("rwb")
        json.loads(f.readline())  # greeting
        for cmd in ("qmp_capabilities", command):
            f.write(json.dumps({"execute": cmd}).encode() + b"\n")
            f.flush()
            while True:
                msg = json.loads(f.readline())
                if "return" in msg or "error" in msg:
                    assert "return" in msg, msg
                    break


def test_guest_power_off_is_a_shutdown_not_a_crash(env):
    # The guest powering off by itself ends qv-vmm with exit 0 and its
    # exit.json: a stop no caller asked for, but no crash either.
    create(env, "p")
    qv(env, "vm", "start", "p")
    pid = runtime(env, "p")["pid"]
    qmp_send(vm_dir(env, "p") / "qmp.sock", "system_powerdown")
    assert wait_gone(pid)
    st = state_line(env, "p")
    assert "stopped" in st and "crash" not in st and "shut" in st, st


def test_destroy_cut_short_is_swept_by_the_next_connection(env):
    # What a destroy killed half-way leaves: the directory renamed away,
    # not yet removed. It is no VM, and the next connection removes it.
    create(env, "s")
    kind = env["root"] / "kvm"
    (kind / "s").rename(kind / ".tmp-s-AbC123")
    assert "s" not in qv(env, "vm", "list", "--all").stdout.split()
    assert not (kind / ".tmp-s-AbC123").exists()


def vmm_argv(pid):
    return [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0")
            .split(b"\0")]


def test_vmm_inner_connection_uses_the_session_root(env, tmp_path):
    # qv-vmm's own kvm: connection keeps its state under this session's
    # root, never the user's data directory: two roots with the same VM
    # name do not share kvm:///embed's per-name lock. Without /dev/kvm the
    # start may fail inside qv-vmm; the URI it was given is in qv.log
    # either way, and nothing lands in the default state directory.
    from urllib.parse import parse_qs, urlsplit
    default = tmp_path / "default-state"
    default.mkdir()
    penv = dict(os.environ, QV_STATE_DIR=str(default), HOME=str(tmp_path / "home"))
    for name, root in (("one", tmp_path / "r1"), ("two", tmp_path / "r 2&x=y")):
        root.mkdir()
        uri = f"kvm:///session?root={quote(str(root))}"
        xml = tmp_path / f"{name}.xml"
        xml.write_text(XML.format(name="same"))
        subprocess.run([QV, "-c", uri, "vm", "create", "--xml", str(xml)], env=penv,
                       check=True, capture_output=True, timeout=60)
        p = subprocess.run([QV, "-c", uri, "vm", "start", "same"], env=penv,
                           capture_output=True, text=True, timeout=60)
        try:
            log = (root / "kvm" / "same" / "qv.log").read_text()
            inner = log.split("starting qv-vmm (", 1)[1].split(")\n", 1)[0]
            parts = urlsplit(inner)
            assert (parts.scheme, parts.path) == ("kvm", "/embed"), inner
            assert parse_qs(parts.query)["root"] == [str(root)], inner
        finally:
            if p.returncode == 0:
                subprocess.run([QV, "-c", uri, "vm", "stop", "--force", "same"], env=penv,
                               capture_output=True, timeout=60)
    assert list(default.iterdir()) == [], list(default.iterdir())


def test_start_spares_a_non_vmm_process_ending_like_its_command_line(env):
    # reap_orphan kills only a qv-vmm: another program whose command line
    # ends with ' --dir DIR' (a tracer, a wrapper) is left alone.
    create(env, "o")
    d = vm_dir(env, "o")
    decoy = subprocess.Popen(["/usr/bin/python3", "-c", "import time; time.sleep(120)",
                              "--dir", str(d)])
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/proc/{decoy.pid}/cmdline").read_bytes().endswith(
                f"--dir\0{d}\0".encode()) and time.monotonic() < deadline:
            time.sleep(0.05)
        # The decoy is what the old check killed: its command line ends as
        # a qv-vmm's of this VM does.
        assert Path(f"/proc/{decoy.pid}/cmdline").read_bytes().endswith(
            f"--dir\0{d}\0".encode())
        qv(env, "vm", "start", "o")
        pid = runtime(env, "o")["pid"]
        assert alive(pid) and pid != decoy.pid
        qv(env, "vm", "stop", "--force", "o")
        assert wait_gone(pid)
        assert decoy.poll() is None, "the start or stop killed a process that is not qv-vmm"
    finally:
        decoy.kill()
        decoy.wait()
