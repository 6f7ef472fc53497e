"""The noop driver's state directory under stress: a full file system,
restores seen by other connections, stale temporaries, concurrent creates
with one UUID, damaged VMs, strict umasks and foreign directories.

Tests that need root (mounting a tmpfs, switching users) say so and skip
when they cannot."""

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import threading

import pytest

import qv
from conftest import BUILD_DIR, require_driver

MiB = 1 << 20
QV_BIN = os.path.join(BUILD_DIR, "tools", "qv", "qv") if BUILD_DIR else ""
UUID = "6f1c0c58-3b0e-4b8e-9a52-5b0d0cbd1f00"


@pytest.fixture
def state(tmp_path):
    require_driver("noop")
    d = tmp_path / "state"
    d.mkdir(mode=0o700)
    return d


def uri_of(d):
    return "noop://" + str(d)


def run_qv(d, *args, **kw):
    if not QV_BIN or not os.access(QV_BIN, os.X_OK):
        pytest.skip("the qv CLI is not built ($QV_BUILD_DIR unset)")
    return subprocess.run([QV_BIN, "-c", uri_of(d)] + list(args), capture_output=True,
                          text=True, timeout=60, **kw)


def temporaries(d):
    found = []
    for root, dirs, files in os.walk(d):
        for e in dirs + files:
            if e.startswith(".") and e != ".locks":
                found.append(os.path.join(root, e))
    return found


# ---- A full file system ----

@pytest.fixture
def small_fs(tmp_path):
    """A 6 MiB tmpfs; skipped where mounting is not permitted."""
    require_driver("noop")
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root): " + r.stderr.strip())
    try:
        yield mnt / "state"
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(vm, nbytes, tag):
    chunk = (tag * (MiB // len(tag) + 1))[:MiB]
    for off in range(0, nbytes, MiB):
        vm.write_memory(off, chunk)


def test_full_disk_snapshot_and_clone_fail_cleanly(small_fs):
    """A snapshot or clone that does not fit reports ENOSPC (it used to die
    with SIGBUS), removes its partial copy and keeps the VM and earlier
    snapshots."""
    with qv.connect(uri_of(small_fs)) as c:
        vm = c.create_vm("big", memory=16 * MiB)
        fill(vm, 1 * MiB, b"first ")
        vm.snapshots.create("s0")          # 1 MiB: fits
        fill(vm, 3 * MiB, b"second ")      # live memory now 3 MiB; 4 MiB in use
        with pytest.raises(qv.Error) as e:
            vm.snapshots.create("s1")      # another 3 MiB does not fit
        assert "No space left on device" in str(e.value), e.value
        assert "s1" in str(e.value) and "big" in str(e.value), e.value
        with pytest.raises(qv.Error) as e:
            vm.clone("big2")
        assert "No space left on device" in str(e.value), e.value
        assert temporaries(small_fs) == []
        assert [s.name for s in vm.snapshots.list()] == ["s0"]
        assert c.vm_names() == ["big"]
        assert vm.read_memory(0, 7) == b"second "
        # Writing guest memory beyond what the disk holds is an error too.
        vm.snapshots.restore("s0")
        assert vm.read_memory(0, 6) == b"first "
        # Writing guest memory beyond what the disk holds is an error too.
        with pytest.raises(qv.Error) as e:
            fill(vm, 16 * MiB, b"third ")
        assert "No space left on device" in str(e.value), e.value
        assert vm.read_memory(0, 6) == b"third "
        assert [s.name for s in vm.snapshots.list()] == ["s0"]


def test_full_disk_restore_keeps_memory(small_fs):
    with qv.connect(uri_of(small_fs)) as c:
        vm = c.create_vm("r", memory=16 * MiB)
        fill(vm, 1 * MiB, b"snap ")
        vm.snapshots.create("s0")
        vm.write_memory(0, b"live ")   # 1 MiB live + 1 MiB snapshot
        blocker = small_fs.parent / "blocker"
        free = shutil.disk_usage(small_fs).free
        with open(blocker, "wb") as f:  # leave less than the 1 MiB a restore writes
            f.write(b"x" * max(0, free - MiB // 4))
        with pytest.raises(qv.Error) as e:
            vm.snapshots.restore("s0")
        assert "No space left on device" in str(e.value), e.value
        assert vm.read_memory(0, 5) == b"live "
        assert vm.read_memory(5000, 5) == b"snap "
        assert temporaries(small_fs) == []
        os.unlink(blocker)
        vm.snapshots.restore("s0")
        assert vm.read_memory(0, 5) == b"snap "


# ---- Restore as other connections see it ----

def test_restore_is_seen_by_other_connections(state):
    """Memory is MAP_SHARED between connections and processes; a restore
    swaps the files, and every other handle notices and remaps."""
    with qv.connect(uri_of(state)) as a, qv.connect(uri_of(state)) as b:
        va = a.create_vm("shared", memory=8 * MiB)
        va.add_memory_region(0x40000000, MiB)
        va.write_memory(0, b"old!")
        va.write_memory(0x40000000, b"OLD!")
        va.snapshots.create("s0")
        va.write_memory(0, b"new!")
        va.write_memory(0x40000000, b"NEW!")
        vb = b.lookup("shared")
        assert vb.read_memory(0, 4) == b"new!"
        va.snapshots.restore("s0")
        assert vb.read_memory(0, 4) == b"old!"
        assert vb.read_memory(0x40000000, 4) == b"OLD!"
        # And writes after the restore are shared again, both ways.
        vb.write_memory(8, b"from b")
        assert va.read_memory(8, 6) == b"from b"
        va.write_memory(16, b"from a")
        assert vb.read_memory(16, 6) == b"from a"
        names = sorted(os.listdir(state / "shared"))
        assert [n for n in names if n.startswith("memory-")] == [
            "memory-0.g1.bin", "memory-40000000.g1.bin"], names
    # Another process sees it as well.
    r = run_qv(state, "vm", "show", "shared")
    assert r.returncode == 0, r.stderr


# ---- Stale temporaries ----

def test_stale_temporaries_are_swept_unless_locked(state):
    assert run_qv(state, "vm", "create", "--name", "v", "--memory", "8M").returncode == 0
    assert run_qv(state, "vm", "snapshot", "create", "v", "--name", "s").returncode == 0
    stale = [state / ".tmp-gone-AbC123", state / "v" / "snapshots" / ".tmp-t-XyZ789",
             state / ".tmp-v-QwE456"]
    for d in stale:
        d.mkdir()
        (d / "domain.xml").write_text("half")
    (state / "v" / ".state.json.Zz9Yy8").write_text("{")
    (state / "v" / "memory-0.g7.bin").write_bytes(b"\0" * 4096)  # no state names gen 7
    (state / "v" / "domain.g7.xml").write_text("<domain/>")
    # A writer that is alive holds the lock of the VM it writes: its
    # temporaries stay.
    os.makedirs(state / ".locks", exist_ok=True)
    busy = state / ".tmp-busy-AAAAAA"
    busy.mkdir()
    with open(state / ".locks" / "busy.lock", "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        r = run_qv(state, "vm", "list", "--all")
        assert r.returncode == 0, r.stderr
        assert busy.exists()
    left = temporaries(state)
    assert left == [str(busy)], left
    assert not (state / "v" / "memory-0.g7.bin").exists()
    assert not (state / "v" / "domain.g7.xml").exists()
    r = run_qv(state, "vm", "list", "--all")
    assert temporaries(state) == []
    assert run_qv(state, "vm", "snapshot", "list", "v").returncode == 0


def test_damaged_state_keeps_memory_files(state):
    """Without a readable state.json the sweep cannot tell generations
    apart, so it removes no memory file."""
    assert run_qv(state, "vm", "create", "--name", "d", "--memory", "8M").returncode == 0
    (state / "d" / "memory-0.bin").write_bytes(b"guest")
    (state / "d" / "memory-0.g3.bin").write_bytes(b"guest")
    (state / "d" / "state.json").write_text("garbage")
    assert run_qv(state, "vm", "list", "--all").returncode == 0
    assert (state / "d" / "memory-0.bin").exists()
    assert (state / "d" / "memory-0.g3.bin").exists()


# ---- One UUID, one VM ----

XML = """<domain type='test'><name>{name}</name><uuid>{uuid}</uuid>
<memory unit='MiB'>8</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>
"""


def vms_with_uuid(d):
    r = run_qv(d, "vm", "list", "--all", "--json")
    assert r.returncode == 0, r.stderr
    return [e["name"] for e in json.loads(r.stdout) if e.get("uuid") == UUID]


def test_one_uuid_one_vm_across_processes(state, tmp_path):
    files = []
    for i in range(16):
        f = tmp_path / ("d%d.xml" % i)
        f.write_text(XML.format(name="u%d" % i, uuid=UUID))
        files.append(f)
    if not QV_BIN or not os.access(QV_BIN, os.X_OK):
        pytest.skip("the qv CLI is not built ($QV_BUILD_DIR unset)")
    procs = [subprocess.Popen([QV_BIN, "-c", uri_of(state), "vm", "create", "--xml", str(f)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for f in files]
    results = [(p.wait(60), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    ok = [r for r in results if r[0] == 0]
    assert len(ok) == 1, results
    for rc, err in results:
        if rc != 0:
            assert "already has UUID " + UUID in err, err
    assert len(vms_with_uuid(state)) == 1


def test_one_uuid_one_vm_across_threads(state):
    errors, made = [], []

    def create(i):
        try:
            with qv.connect(uri_of(state)) as c:
                c.define_xml(XML.format(name="t%d" % i, uuid=UUID))
                made.append(i)
        except qv.Error as e:
            errors.append(str(e))

    threads = [threading.Thread(target=create, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1, (made, errors)
    assert all("already has UUID" in e for e in errors), errors
    assert len(vms_with_uuid(state)) == 1


# ---- Damaged VMs ----

def test_damaged_vm_is_listed_and_destroyable(state):
    for n in ("good", "badstate", "badxml"):
        assert run_qv(state, "vm", "create", "--name", n, "--memory", "8M").returncode == 0
    (state / "badstate" / "state.json").write_text("{not json")
    (state / "badxml" / "domain.xml").write_text("<domain")
    r = run_qv(state, "vm", "list", "--all")
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: line.split()[1] for line in r.stdout.splitlines()[1:]
            if line.strip() and not line.startswith(("Damaged", " "))}
    assert rows == {"good": "created", "badstate": "damaged", "badxml": "damaged"}, r.stdout
    assert "badstate: " + str(state / "badstate" / "state.json") in r.stdout, r.stdout
    assert "badxml: " + str(state / "badxml" / "domain.xml") in r.stdout, r.stdout
    # Without --all too: the user must learn of the damage.
    r = run_qv(state, "vm", "list")
    assert "badstate" in r.stdout and "good" not in r.stdout.split("Damaged")[0], r.stdout
    r = run_qv(state, "vm", "list", "--all", "--json")
    assert r.returncode == 0, r.stderr
    by_name = {e["name"]: e for e in json.loads(r.stdout)}
    assert by_name["good"]["state"] == "created"
    assert by_name["badstate"]["state"] == "damaged"
    assert "state.json" in by_name["badstate"]["error"]
    assert "domain.xml" in by_name["badxml"]["error"]
    for n in ("badstate", "badxml"):
        r = run_qv(state, "vm", "destroy", n)
        assert r.returncode == 0, r.stderr
        assert not (state / n).exists()
    r = run_qv(state, "vm", "list", "--all", "--json")
    assert [e["name"] for e in json.loads(r.stdout)] == ["good"]
    # The Python API sees the same: the damaged VM has a handle whose
    # state read fails with the reason.
    (state / "good" / "state.json").write_text("[]")
    with qv.connect(uri_of(state)) as c:
        assert c.vm_names() == ["good"]
        with pytest.raises(qv.Error) as e:
            c.lookup("good").info
        assert "state.json" in str(e.value)


# ---- Modes and ownership ----

def umask_0277():
    os.umask(0o277)


def test_strict_umask_does_not_break_create(state):
    r = run_qv(state, "vm", "create", "--name", "m", "--memory", "8M", preexec_fn=umask_0277)
    assert r.returncode == 0, r.stderr
    for args in (["vm", "snapshot", "create", "m", "--name", "s"],
                 ["vm", "clone", "m", "--name", "m2"],
                 ["vm", "snapshot", "restore", "m", "--name", "s"]):
        r = run_qv(state, *args, preexec_fn=umask_0277)
        assert r.returncode == 0, (args, r.stderr)
    for root, dirs, files in os.walk(state):
        for d in dirs:
            assert os.stat(os.path.join(root, d)).st_mode & 0o777 == 0o700, (root, d)
        for f in files:
            assert os.stat(os.path.join(root, f)).st_mode & 0o777 == 0o600, (root, f)


def as_nobody():
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    os.umask(0o277)


def test_strict_umask_as_an_ordinary_user(request):
    """Root ignores mode bits, so the real failure shows only as another
    user: with umask 0277 files were created read-only and the next open
    for writing failed."""
    require_driver("noop")
    if os.geteuid() != 0:
        pytest.skip("needs root to run qv as the user nobody")
    # Not under tmp_path: pytest keeps that private to root.
    top = tempfile.mkdtemp(prefix="qv-nobody-")
    request.addfinalizer(lambda: shutil.rmtree(top, ignore_errors=True))
    os.chmod(top, 0o755)
    os.chown(top, 65534, 65534)
    d = os.path.join(top, "state")
    steps = [["vm", "create", "--name", "n", "--memory", "8M"], ["vm", "start", "n"],
             ["vm", "snapshot", "create", "n", "--name", "s"],
             ["vm", "snapshot", "restore", "n", "--name", "s"], ["vm", "clone", "n", "--name", "n2"],
             ["vm", "list", "--all"], ["vm", "destroy", "n"]]
    for args in steps:
        r = run_qv(d, *args, preexec_fn=as_nobody)
        assert r.returncode == 0, (args, r.stderr)
    for root, dirs, files in os.walk(d):
        for e in dirs + files:
            st = os.lstat(os.path.join(root, e))
            assert st.st_uid == 65534, (root, e)


@pytest.mark.parametrize("driver", ["noop", "qemu"])
def test_foreign_state_directory_is_refused(tmp_path, driver):
    """Whoever owns a state directory can swap what is inside it; one of
    another user (root's own calls included) is refused."""
    require_driver(driver)
    if os.geteuid() != 0:
        pytest.skip("needs root to give a directory to another user")
    d = tmp_path / "theirs"
    d.mkdir(mode=0o700)
    os.chown(d, 65534, 65534)
    uri = uri_of(d) if driver == "noop" else "qemu:///session?root=" + str(d)
    with pytest.raises(qv.Error) as e:
        qv.connect(uri)
    assert str(d) in str(e.value) and "uid 65534" in str(e.value), e.value
    assert os.listdir(d) == []


def test_lock_file_symlink_is_not_followed(state):
    assert run_qv(state, "vm", "create", "--name", "l", "--memory", "8M").returncode == 0
    victim = state.parent / "victim"
    victim.write_text("keep me")
    lock = state / ".locks" / "l.lock"
    if lock.exists():
        lock.unlink()
    lock.symlink_to(victim)
    r = run_qv(state, "vm", "start", "l")
    assert r.returncode != 0
    assert str(lock) in r.stderr, r.stderr
    assert victim.read_text() == "keep me"
