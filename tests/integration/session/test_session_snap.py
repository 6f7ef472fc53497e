"""kvm:///session snapshots, restore and clone through the qv CLI, each step a
separate `qv` invocation. qv-vmm hosts a noop:///DIR VM (vmm_uri=), whose
driver keeps the VM and its snapshots in DIR between qv-vmm runs: that is
what a stopped VM's snapshots are read from, and what these tests check on
disk."""
import json
import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import kill_left_vmms

QV = os.environ.get("QV_CLI")
VMM = os.environ.get("QV_VMM")

XML = """<domain type='kvm'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <source file='{iso}'/>
      <target dev='vdb' bus='virtio'/>
      <readonly/>
    </disk>
  </devices>
</domain>
"""


@pytest.fixture
def env(tmp_path):
    if not QV or not VMM:
        pytest.fail("QV_CLI and QV_VMM must be set (run through ctest)")
    root = tmp_path / "root"
    store = tmp_path / "store"
    root.mkdir()
    store.mkdir()
    e = {"root": root, "store": store, "tmp": tmp_path,
         "uri": f"kvm:///session?root={root}&vmm_uri=noop://{store}"}
    yield e
    kill_left_vmms(root)


def qv(e, *args, check=True, timeout=60, uri=None):
    p = subprocess.run([QV, "-c", uri or e["uri"], *args], capture_output=True, text=True,
                       timeout=timeout)
    if check:
        assert p.returncode == 0, f"qv {' '.join(args)}: {p.stdout}{p.stderr}"
    return p


def fails(e, *args, uri=None):
    p = qv(e, *args, check=False, uri=uri)
    assert p.returncode != 0, f"qv {' '.join(args)} succeeded: {p.stdout}"
    return p.stderr


def create(e, name, uri=None, kernel=None):
    disk = e["tmp"] / f"{name}.img"
    # Data at both ends and a hole between: the clone must keep all of it.
    with open(disk, "wb") as f:
        f.write(os.urandom(4096))
        f.seek(8 << 20)
        f.write(b"tail-" + name.encode())
    iso = e["tmp"] / "shared.iso"
    iso.write_bytes(b"iso" * 4096)
    xml = e["tmp"] / f"{name}.xml"
    text = XML.format(name=name, disk=disk, iso=iso)
    if kernel:
        text = text.replace("hvm</type>", f"hvm</type><kernel>{kernel}</kernel>")
    xml.write_text(text)
    qv(e, "vm", "create", "--xml", str(xml), uri=uri)
    return disk


def state(e, name, uri=None):
    out = qv(e, "vm", "show", name, uri=uri).stdout
    lines = [l for l in out.splitlines() if l.strip().lower().startswith("state")]
    assert lines, out
    return lines[0].split(":", 1)[1].strip().lower()


def snaps(e, name, uri=None):
    """{name: state} from `qv vm snapshot list`."""
    out = qv(e, "vm", "snapshot", "list", name, uri=uri).stdout.splitlines()
    assert out and out[0].split()[0] == "NAME", out
    return {l.split()[0]: l.split()[-1] for l in out[1:] if l.strip()}


def vmm_pid(e, name):
    rt = e["root"] / "kvm" / name / "runtime.json"
    return json.loads(rt.read_text())["pid"] if rt.exists() else None


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def store_snaps(e, name):
    """The committed snapshot directories the hosted driver keeps."""
    d = e["store"] / name / "snapshots"
    return sorted(p.name for p in d.iterdir() if not p.name.startswith(".")) if d.exists() else []


def test_snapshots_of_a_running_and_paused_vm(env):
    create(env, "a")
    qv(env, "vm", "start", "a")
    pid = vmm_pid(env, "a")
    out = qv(env, "vm", "snapshot", "create", "a", "--name", "s1").stdout
    assert "Snapshot 's1' of VM 'a' created." in out
    assert state(env, "a") == "running"  # resumed after the capture
    qv(env, "vm", "pause", "a")
    qv(env, "vm", "snapshot", "create", "a", "--name", "s2")
    assert state(env, "a") == "paused"
    qv(env, "vm", "resume", "a")
    assert snaps(env, "a") == {"s1": "running", "s2": "paused"}
    # Kept by qv-vmm's driver, on disk, each complete.
    assert store_snaps(env, "a") == ["s1", "s2"]
    for s in ("s1", "s2"):
        assert (env["store"] / "a" / "snapshots" / s / "domain.xml").is_file()

    # Restore puts the VM back into the captured state, in the same qv-vmm.
    qv(env, "vm", "snapshot", "restore", "a", "--name", "s2")
    assert state(env, "a") == "paused"
    qv(env, "vm", "snapshot", "restore", "a", "--name", "s1")
    assert state(env, "a") == "running"
    assert vmm_pid(env, "a") == pid and alive(pid)

    # Errors are the API's, naming the VM and the snapshot.
    err = fails(env, "vm", "snapshot", "create", "a", "--name", "s1")
    assert "already has a snapshot 's1'" in err, err
    err = fails(env, "vm", "snapshot", "restore", "a", "--name", "nope")
    assert "VM 'a' has no snapshot 'nope'" in err, err
    err = fails(env, "vm", "snapshot", "delete", "a", "--name", "nope")
    assert "VM 'a' has no snapshot 'nope'" in err, err
    for bad in ("bad/name", ".hidden", "x" * 300):
        err = fails(env, "vm", "snapshot", "create", "a", "--name", bad)
        assert "snapshot name" in err, err
    # --incremental reaches the hosted driver (x-qv-incremental), which
    # refuses it by name: noop tracks no written pages.
    err = fails(env, "vm", "snapshot", "create", "a", "--name", "inc", "--incremental")
    assert "incremental" in err and "noop" in err, err
    assert snaps(env, "a") == {"s1": "running", "s2": "paused"}

    qv(env, "vm", "snapshot", "delete", "a", "--name", "s2")
    assert snaps(env, "a") == {"s1": "running"}
    assert store_snaps(env, "a") == ["s1"]
    assert state(env, "a") == "running" and vmm_pid(env, "a") == pid


def test_snapshots_of_a_stopped_vm_and_restore_starts_its_vmm(env):
    create(env, "b")
    # Before any start: a snapshot of the definition, a stopped one.
    qv(env, "vm", "snapshot", "create", "b", "--name", "fresh")
    assert snaps(env, "b") == {"fresh": "created"}
    qv(env, "vm", "start", "b")
    qv(env, "vm", "snapshot", "create", "b", "--name", "up")
    qv(env, "vm", "pause", "b")
    qv(env, "vm", "snapshot", "create", "b", "--name", "held")
    pid = vmm_pid(env, "b")
    qv(env, "vm", "stop", "--force", "b")
    assert not alive(pid) and vmm_pid(env, "b") is None
    # The snapshots outlive qv-vmm and are read without one.
    assert snaps(env, "b") == {"fresh": "created", "up": "running", "held": "paused"}
    assert vmm_pid(env, "b") is None

    # Restoring a guest starts a qv-vmm that resumes it (--restore).
    qv(env, "vm", "snapshot", "restore", "b", "--name", "up")
    pid2 = vmm_pid(env, "b")
    assert pid2 and alive(pid2) and pid2 != pid
    cmd = Path(f"/proc/{pid2}/cmdline").read_bytes().split(b"\0")
    assert b"--restore" in cmd and cmd[cmd.index(b"--restore") + 1] == b"up", cmd
    assert state(env, "b") == "running"
    qv(env, "vm", "stop", "--force", "b")
    qv(env, "vm", "snapshot", "restore", "b", "--name", "held")
    assert state(env, "b") == "paused"
    qv(env, "vm", "resume", "b")
    assert state(env, "b") == "running"
    # One without a guest does not replace a running one.
    err = fails(env, "vm", "snapshot", "restore", "b", "--name", "fresh")
    assert "stop the VM first" in err, err
    qv(env, "vm", "stop", "--force", "b")

    # ... and, stopped, is restored without starting anything.
    qv(env, "vm", "snapshot", "restore", "b", "--name", "fresh")
    assert vmm_pid(env, "b") is None and "stopped" in state(env, "b")

    err = fails(env, "vm", "snapshot", "create", "b", "--name", "up")
    assert "already has a snapshot 'up'" in err, err
    err = fails(env, "vm", "snapshot", "restore", "b", "--name", "gone")
    assert "no snapshot 'gone'" in err, err
    err = fails(env, "vm", "snapshot", "create", "b", "--name", "inc", "--incremental")
    assert "incremental" in err, err
    qv(env, "vm", "snapshot", "delete", "b", "--name", "held")
    assert snaps(env, "b") == {"fresh": "created", "up": "running"}
    assert store_snaps(env, "b") == ["fresh", "up"]

    # Destroy takes the snapshots along: a new VM of the name has none.
    qv(env, "vm", "destroy", "b")
    assert not (env["store"] / "b").exists()
    create(env, "b")
    assert snaps(env, "b") == {}


def test_noop_without_a_directory_keeps_no_snapshots_of_a_stopped_vm(env):
    uri = f"kvm:///session?root={env['root']}&vmm_uri=noop:///"
    create(env, "c", uri=uri)
    assert snaps(env, "c", uri=uri) == {}
    err = fails(env, "vm", "snapshot", "create", "c", "--name", "s", uri=uri)
    assert "keeps nothing between runs" in err and "noop:///DIR" in err, err
    # While qv-vmm runs, its in-memory VM has them.
    qv(env, "vm", "start", "c", uri=uri)
    qv(env, "vm", "snapshot", "create", "c", "--name", "s", uri=uri)
    assert snaps(env, "c", uri=uri) == {"s": "running"}
    qv(env, "vm", "stop", "--force", "c", uri=uri)
    assert snaps(env, "c", uri=uri) == {}


def read(path):
    return Path(path).read_bytes()


def test_clone_of_stopped_and_running_vms_copies_the_disks(env):
    disk = create(env, "src")
    qv(env, "vm", "snapshot", "create", "src", "--name", "s")
    out = qv(env, "vm", "clone", "src", "--name", "cold").stdout
    assert "Cloned VM 'src' to 'cold'" in out
    d = env["root"] / "kvm" / "cold"
    xml = (d / "domain.xml").read_text()
    src_xml = (env["root"] / "kvm" / "src" / "domain.xml").read_text()
    copy = d / "vda.img"
    # A copy of the disk in the clone's directory, the definition pointing
    # at it; the read-only disk is shared.
    assert f"file=\"{copy}\"" in xml.replace("'", '"'), xml
    assert str(env["tmp"] / "shared.iso") in xml
    assert read(copy) == read(disk)
    assert os.stat(copy).st_mode & 0o777 == 0o600
    uuid = lambda x: x.split("<uuid>")[1].split("</uuid>")[0]
    assert uuid(xml) != uuid(src_xml)
    assert state(env, "cold") == "created"
    # Snapshots are not copied.
    assert snaps(env, "cold") == {}
    # The copy is the clone's own: writing it leaves the source alone.
    with open(copy, "r+b") as f:
        f.write(b"changed")
    assert read(copy) != read(disk)

    qv(env, "vm", "start", "src")
    pid = vmm_pid(env, "src")
    qv(env, "vm", "clone", "src", "hot")
    assert read(env["root"] / "kvm" / "hot" / "vda.img") == read(disk)
    # Paused for the copy, running again after, in the same qv-vmm.
    assert state(env, "src") == "running" and vmm_pid(env, "src") == pid
    log = (env["root"] / "kvm" / "src" / "qv.log").read_text()
    assert "clone: paused" in log and "clone: resumed" in log
    qv(env, "vm", "pause", "src")
    qv(env, "vm", "clone", "src", "warm")
    assert state(env, "src") == "paused"  # a paused source stays paused
    assert state(env, "hot") == "created" and state(env, "warm") == "created"
    qv(env, "vm", "start", "hot")
    assert state(env, "hot") == "running"

    # Failures leave nothing half made.
    err = fails(env, "vm", "clone", "src", "cold")
    assert "exists" in err, err
    os.chmod(disk, 0)
    if os.geteuid() != 0:
        err = fails(env, "vm", "clone", "src", "nope")
        assert "vda" in err, err
        assert not (env["root"] / "kvm" / "nope").exists()
    os.chmod(disk, 0o600)
    leftovers = [p.name for p in (env["root"] / "kvm").iterdir() if p.name.startswith(".tmp-")]
    assert leftovers == [], leftovers
    listed = qv(env, "vm", "list", "--all").stdout.split()
    for n in ("src", "cold", "hot", "warm"):
        assert n in listed
    assert "nope" not in listed


def test_clone_gets_consoles_of_its_own(env):
    """A file console and a listening unix one move into the clone's
    directory: the clone neither appends to its source's log nor takes its
    source's socket at start."""
    create(env, "csrc")
    xml = (env["root"] / "kvm" / "csrc" / "domain.xml").read_text()
    log, sock = env["tmp"] / "csrc-serial.log", env["tmp"] / "csrc.sock"
    cases = {
        "cfile": (f"<serial type='file'><source path='{log}'/><target port='0'/></serial>"
                  f"<console type='file'><source path='{log}'/><target type='serial' port='0'/>"
                  "</console>", log, "serial0.log"),
        "cunix": (f"<serial type='unix'><source mode='bind' path='{sock}'/><target port='0'/>"
                  "</serial>", sock, "serial0.sock"),
    }
    for name, (chardevs, path, moved) in cases.items():
        new = env["tmp"] / f"{name}.xml"
        new.write_text(xml.replace("<name>csrc</name>", f"<name>{name}</name>")
                       .split("<uuid>")[0] + xml.split("</uuid>")[1]
                       .replace("</devices>", chardevs + "</devices>"))
        qv(env, "vm", "create", "--xml", str(new))
        qv(env, "vm", "clone", name, "--name", name + "-cl")
        cl = env["root"] / "kvm" / (name + "-cl")
        text = (cl / "domain.xml").read_text().replace("'", '"')
        assert f'path="{cl}/{moved}"' in text, text
        assert str(path) not in text, text
        # The source keeps its own.
        assert str(path) in (env["root"] / "kvm" / name / "domain.xml").read_text()


def test_clone_of_a_missing_disk_leaves_nothing(env):
    disk = create(env, "m")
    disk.unlink()
    err = fails(env, "vm", "clone", "m", "m2")
    assert "vda" in err and str(disk) in err, err
    assert not (env["root"] / "kvm" / "m2").exists()
    assert [p for p in (env["root"] / "kvm").iterdir() if p.name.startswith(".tmp-")] == []
    assert "m2" not in qv(env, "vm", "list", "--all").stdout.split()
    # Only the name's lock file stays (docs/drivers.md says why): empty,
    # 0600, and reused by the next VM of that name.
    lock = env["root"] / "kvm" / ".m2.lock"
    assert sorted(p.name for p in (env["root"] / "kvm").iterdir() if "m2" in p.name) == [".m2.lock"]
    st = lock.stat()
    assert st.st_size == 0 and (st.st_mode & 0o777) == 0o600
    create(env, "m2")
    assert lock.stat().st_ino == st.st_ino
    assert "m2" in qv(env, "vm", "list", "--all").stdout.split()


def test_vmm_killed_during_snapshot_jobs_leaves_no_half_snapshot(env):
    create(env, "k")
    # How long a whole `qv vm snapshot create` takes here: the kills are
    # spread over its second half, where qv-vmm's job runs.
    qv(env, "vm", "start", "k")
    t0 = time.monotonic()
    qv(env, "vm", "snapshot", "create", "k", "--name", "probe")
    took = time.monotonic() - t0
    qv(env, "vm", "snapshot", "delete", "k", "--name", "probe")
    qv(env, "vm", "stop", "--force", "k")
    rng = random.Random(12)
    taken = []
    for i in range(12):
        qv(env, "vm", "start", "k")
        pid = vmm_pid(env, "k")
        name = f"s{i}"
        p = subprocess.Popen([QV, "-c", env["uri"], "vm", "snapshot", "create", "k", "--name",
                              name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0.4 * took, 1.1 * took))
        os.kill(pid, signal.SIGKILL)
        out, err = p.communicate(timeout=60)
        deadline = time.monotonic() + 10
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "crashed" in state(env, "k") or "stopped" in state(env, "k")
        listed = snaps(env, "k")
        if p.returncode == 0:
            assert name in listed, (out, err, listed)
        if name in listed:
            taken.append(name)
        # Whatever is listed is whole: every committed directory has what a
        # restore reads, nothing else is visible.
        assert sorted(listed) == store_snaps(env, "k")
        for s in listed:
            sd = env["store"] / "k" / "snapshots" / s
            for f in ("domain.xml", "meta.json", "regs.json"):
                assert (sd / f).is_file(), (s, f, sorted(x.name for x in sd.iterdir()))
    # Every snapshot that made it restores.
    for s in taken:
        qv(env, "vm", "snapshot", "restore", "k", "--name", s)
        assert state(env, "k") == "running"
        qv(env, "vm", "stop", "--force", "k")


def kvm_usable():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def test_embed_snapshots_inside_vmm(env):
    """The same on kvm:///embed inside qv-vmm, where /dev/kvm is usable: the
    snapshots live in <root>/kvm-embed/NAME/snapshots."""
    if not kvm_usable():
        pytest.skip("/dev/kvm is not usable here: kvm:///embed cannot run inside qv-vmm")
    spin = Path(os.environ.get("QV_GUESTS_DIR", "/nonexistent"), "spin.elf")
    if not spin.is_file():
        pytest.fail(f"the test guest {spin} is not built (QV_GUESTS_DIR)")
    uri = f"kvm:///session?root={env['root']}"
    create(env, "h", uri=uri, kernel=spin)
    qv(env, "vm", "start", "h", uri=uri)
    qv(env, "vm", "snapshot", "create", "h", "--name", "s", uri=uri)
    store = env["root"] / "kvm-embed" / "h" / "snapshots" / "s"
    assert store.is_dir()
    qv(env, "vm", "stop", "--force", "h", uri=uri)
    assert snaps(env, "h", uri=uri) == {"s": "running"}
    qv(env, "vm", "snapshot", "restore", "h", "--name", "s", uri=uri)
    assert state(env, "h", uri=uri) == "running"
    qv(env, "vm", "stop", "--force", "h", uri=uri)
    qv(env, "vm", "destroy", "h", uri=uri)
    assert not (env["root"] / "kvm-embed" / "h" / "snapshots").exists()


def test_restore_of_a_vm_with_a_cgroup_starts_paused_then_restores(env):
    """A VM with a CPU weight starts with qv-vmm --paused, which is moved into
    its cgroup before any guest instruction runs; a restore then happens at
    qv-vmm's first `cont` (--paused --restore)."""
    from test_session_tune import cg_pids, cgroup_usable
    version, where = cgroup_usable()
    if not version:
        pytest.skip(f"this host lets us make no cpu cgroup: {where}")
    create(env, "w")
    xml = (env["root"] / "kvm" / "w" / "domain.xml").read_text()
    xml = xml.replace("</domain>", "<cputune><shares>512</shares></cputune></domain>")
    (env["tmp"] / "w2.xml").write_text(xml.replace("<name>w</name>", "<name>w2</name>")
                                       .split("<uuid>")[0] + xml.split("</uuid>")[1])
    qv(env, "vm", "destroy", "w")
    qv(env, "vm", "create", "--xml", str(env["tmp"] / "w2.xml"))
    qv(env, "vm", "start", "w2")
    qv(env, "vm", "snapshot", "create", "w2", "--name", "up")
    qv(env, "vm", "pause", "w2")
    qv(env, "vm", "snapshot", "create", "w2", "--name", "held")
    qv(env, "vm", "stop", "--force", "w2")
    for tag, want in (("up", "running"), ("held", "paused")):
        qv(env, "vm", "snapshot", "restore", "w2", "--name", tag)
        assert state(env, "w2") == want
        pid = vmm_pid(env, "w2")
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert b"--paused" in cmd and cmd[cmd.index(b"--restore") + 1] == tag.encode(), cmd
        rt = json.loads((env["root"] / "kvm" / "w2" / "runtime.json").read_text())
        assert pid in cg_pids(rt["cgroup"])
        qv(env, "vm", "stop", "--force", "w2")


def test_clone_killed_mid_copy_leaves_no_source_paused_for_ever(env):
    """A clone killed while it keeps the running source paused: the marker it
    left makes the next caller under the VM's lock resume the source."""
    disk = create(env, "big")
    # Real data (no holes) so the copy lasts long enough to be killed in.
    with open(disk, "r+b") as f:
        chunk = os.urandom(1 << 20)
        for _ in range(256):
            f.write(chunk)
    qv(env, "vm", "start", "big")
    assert state(env, "big") == "running"
    marker = env["root"] / "kvm" / "big" / "clone-paused"
    p = subprocess.Popen([QV, "-c", env["uri"], "vm", "clone", "big", "big2"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 20
    while not marker.exists() and p.poll() is None and time.monotonic() < end:
        time.sleep(0.005)
    if not marker.exists():
        p.wait(timeout=60)
        pytest.skip("the copy ended before it could be killed (reflink?)")
    assert os.stat(marker).st_mode & 0o777 == 0o600
    time.sleep(0.05)  # into the copy, the source paused by now
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=10)
    assert marker.exists()
    # The next status (under the VM's lock) resumes it and says so.
    assert state(env, "big") == "running"
    assert not marker.exists()
    log = (env["root"] / "kvm" / "big" / "qv.log").read_text()
    assert "a clone that did not finish left the VM paused (clone-paused): resumed" in log
    # A finished clone leaves no marker.
    qv(env, "vm", "clone", "big", "big3")
    assert not marker.exists() and state(env, "big") == "running"


def test_clone_refuses_a_symlinked_disk_and_keeps_only_plain_extensions(env):
    disk = create(env, "ln")
    real = env["tmp"] / "real.img"
    disk.rename(real)
    disk.symlink_to(real)
    err = fails(env, "vm", "clone", "ln", "ln2")
    assert (f"disk 'vda' source '{disk}' is a symbolic link; clone copies regular files only"
            in err), err
    assert not (env["root"] / "kvm" / "ln2").exists()
    # A source named "x.raw (copy)": the copy is plain "vda", not an
    # invalid name.
    disk.unlink()
    odd = env["tmp"] / "odd.raw (copy)"
    real.rename(odd)
    xml = env["tmp"] / "odd.xml"
    xml.write_text(XML.format(name="odd", disk=odd, iso=env["tmp"] / "shared.iso"))
    qv(env, "vm", "create", "--xml", str(xml))
    qv(env, "vm", "clone", "odd", "odd2")
    assert read(env["root"] / "kvm" / "odd2" / "vda") == read(odd)


def status_qmp(e, name, command):
    """One command on the VM's qv-vmm status.sock (the read-only monitor,
    free while a caller holds qmp.sock); its return value."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(str(e["root"] / "kvm" / name / "status.sock"))
    f = s.makefile("rwb")
    try:
        def reply(cmd):
            f.write(json.dumps({"execute": cmd}).encode() + b"\n")
            f.flush()
            while True:
                m = json.loads(f.readline())
                if "return" in m or "error" in m:
                    return m
        json.loads(f.readline())  # the greeting
        reply("qmp_capabilities")
        return reply(command)["return"]
    finally:
        f.close()
        s.close()


def test_guest_stop_seen_during_a_load_is_checked_again_after_it(env):
    """qv-vmm's watcher sees the guest stop while a snapshot job holds the
    VM; once the job is over it looks again (vmm_jobs.c job_done): a guest
    the load brought back keeps its qv-vmm, watched on; one still down ends
    it. The stop comes from another process on the hosted noop:///DIR VM,
    during the job (qv-vmm-test's QV_VMM_TEST_JOB_DELAY_MS)."""
    vmm_test = os.environ.get("QV_VMM_TEST")
    if not vmm_test:
        pytest.fail("QV_VMM_TEST must name qv-vmm-test (run through ctest)")
    hosted = f"noop://{env['store']}"
    e = {**env}
    create(e, "w")
    # 5 s: room for another qv process to start and stop the VM inside the
    # job even on an emulated CPU (scripts/nested-kvm.sh).
    run_env = {**os.environ, "QV_VMM": vmm_test, "QV_VMM_TEST_JOB_DELAY_MS": "5000"}

    def cli(*args):
        return subprocess.Popen([QV, "-c", env["uri"], *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=run_env)

    def finish(p):
        out, err = p.communicate(timeout=60)
        return p.returncode, out + err

    rc, out = finish(cli("vm", "start", "w"))
    assert rc == 0, out
    pid = vmm_pid(env, "w")
    rc, out = finish(cli("vm", "snapshot", "create", "w", "--name", "up"))
    assert rc == 0, out

    def stop_during_job(p):
        deadline = time.monotonic() + 20
        while not any(j["status"] == "running" for j in status_qmp(env, "w", "query-jobs")):
            assert p.poll() is None and time.monotonic() < deadline, finish(p)
            time.sleep(0.05)
        qv(env, "vm", "stop", "--force", "w", uri=hosted)

    # The load brings the guest back: the same qv-vmm runs on.
    p = cli("vm", "snapshot", "restore", "w", "--name", "up")
    stop_during_job(p)
    rc, out = finish(p)
    assert rc == 0, out
    assert vmm_pid(env, "w") == pid and alive(pid)
    assert state(env, "w") == "running"
    # And the watcher watches again: a stop now ends qv-vmm.
    qv(env, "vm", "stop", "--force", "w", uri=hosted)
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid), "qv-vmm did not notice the guest stop after the load"
    assert "running" not in state(env, "w")

    # A job that does not bring the guest back (a save): still down after
    # it, so qv-vmm ends once the job is over, not during it.
    rc, out = finish(cli("vm", "start", "w"))
    assert rc == 0, out
    pid = vmm_pid(env, "w")
    p = cli("vm", "snapshot", "create", "w", "--name", "later")
    stop_during_job(p)
    time.sleep(0.3)
    assert alive(pid), "qv-vmm ended while the job held the VM"
    finish(p)
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid), "qv-vmm outlived a guest that stayed stopped"
    assert "running" not in state(env, "w")
