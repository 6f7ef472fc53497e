"""kvm:///session's CPU tuning and crash reporting through the qv CLI, each
step a separate `qv` process: the CPU weight and cap in the VM's own cgroup
(qv-vmm in it before its guest runs, changed live, removed at stop), live
pins on the vCPU threads qv-vmm names in query-cpus-fast, what stays
refused while the VM runs, and a qv-vmm killed by its seccomp filter
reported crashed. qv-vmm hosts a noop:/// VM (vmm_uri=), so this runs
without /dev/kvm; noop has no vCPU threads of its own and qv-vmm names its
main thread for every vCPU (docs/drivers.md, kvm:///session)."""
import ctypes
import json
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from test_session import (alive, env, kvm_usable, qv, runtime, state_line,  # noqa: F401
                          vm_dir, wait_gone)

QV = os.environ.get("QV_CLI")
VMM_TEST = os.environ.get("QV_VMM_TEST")

XML = """<domain type='kvm'>
  <name>{name}</name>
  <uuid>{uuid}</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu>{vcpus}</vcpu>
  {cputune}
  <os><type arch='x86_64'>hvm</type></os>
</domain>
"""


def create(e, name, vcpus=2, cputune="", uri=None, vm_uuid=None):
    xml = e["tmp"] / f"{name}.xml"
    xml.write_text(XML.format(name=name, uuid=vm_uuid or uuid.uuid4(), vcpus=vcpus,
                              cputune=cputune))
    qv(e, "vm", "create", "--xml", str(xml), uri=uri)


def refused(p, *words):
    """A refusal as a user sees it: exit code 1 (an error, not a usage
    mistake or a crash), each of words in the message, no sanitizer report."""
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    for w in words:
        assert w in p.stderr, (w, p.stderr)
    assert "Sanitizer" not in p.stderr and "runtime error" not in p.stderr, p.stderr


# ---- the cgroup -----------------------------------------------------------

def own_cpu_cgroup():
    """(version, directory of our own group) for the cpu controller, found
    as lib/proc/cgroup.c finds it, or (None, why)."""
    mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    groups = Path("/proc/self/cgroup").read_text().splitlines()
    v1 = v2 = None
    for m in mounts:
        left, right = m.split(" - ", 1)
        fields, rfields = left.split(), right.split()
        root, point, fstype = fields[3], fields[4].replace("\\040", " "), rfields[0]
        if fstype == "cgroup" and "cpu" in rfields[2].split(","):
            v1 = (root, point)
        elif fstype == "cgroup2":
            v2 = (root, point)
    for g in groups:
        hid, ctls, path = g.split(":", 2)
        if v1 and "cpu" in ctls.split(","):
            root, point = v1
            rel = os.path.relpath(path, root) if path.startswith(root) else path
            return "v1", os.path.normpath(os.path.join(point, rel.lstrip("/")))
        if v2 and hid == "0":
            root, point = v2
            d = os.path.normpath(os.path.join(point, os.path.relpath(path, root).lstrip("/")))
            ctl = Path(d, "cgroup.controllers")
            if ctl.exists() and "cpu" in ctl.read_text().split():
                if not v1:
                    return "v2", d
    return None, "no cpu controller: neither a v1 cpu hierarchy nor cgroup v2 offering it"


def cgroup_usable():
    """Whether this host lets us make a cpu cgroup; the reason when not."""
    version, d = own_cpu_cgroup()
    if not version:
        return None, d
    probe = Path(d, "qv", f"probe-{os.getpid()}")
    try:
        probe.parent.mkdir(exist_ok=True)
        probe.mkdir()
        probe.rmdir()
    except OSError as ex:
        return None, f"cannot create a cpu cgroup under {d} ({version}): {ex}"
    return version, d


def cg_read(path, name):
    return Path(path, name).read_text().strip()


def cg_pids(path):
    return {int(x) for x in cg_read(path, "cgroup.procs").split()}


def expect_files(version, path, weight, cap, vcpus):
    if version == "v1":
        assert cg_read(path, "cpu.shares") == str(weight * 4)
        assert cg_read(path, "cpu.cfs_period_us") == "100000"
        assert cg_read(path, "cpu.cfs_quota_us") == (str(cap * vcpus * 1000) if cap else "-1")
    else:
        assert cg_read(path, "cpu.weight") == str(weight * 100 // 256)
        assert cg_read(path, "cpu.max") == (f"{cap * vcpus * 1000} 100000" if cap
                                            else "max 100000")


@pytest.fixture
def cgroup():
    version, where = cgroup_usable()
    if not version:
        pytest.skip(f"this host lets us make no cpu cgroup: {where}")
    return version


def test_weight_and_cap_in_the_vms_cgroup(env, cgroup):
    create(env, "w", vcpus=2,
           cputune="<cputune><shares>512</shares><period>100000</period>"
                   "<quota>30000</quota></cputune>")
    d = vm_dir(env, "w")
    qv(env, "vm", "start", "w")
    rt = runtime(env, "w")
    pid, cg = rt["pid"], rt["cgroup"]
    assert Path(cg).name.startswith("kvm-w-") and Path(cg).parent.name == "qv", cg
    expect_files(cgroup, cg, 512, 30, 2)
    # qv-vmm and every thread of it are in the group.
    assert pid in cg_pids(cg)
    for tid in os.listdir(f"/proc/{pid}/task"):
        lines = [l for l in Path(f"/proc/{pid}/task/{tid}/cgroup").read_text().splitlines()
                 if (cgroup == "v1" and "cpu" in l.split(":")[1].split(",")) or
                 (cgroup == "v2" and l.startswith("0::"))]
        assert lines and lines[0].endswith("/qv/" + Path(cg).name), (tid, lines)
    # The session enforces them; qv-vmm's inner kvm:///embed is not asked to.
    vmm_def = (d / "vmm.xml").read_text()
    assert "<shares>" not in vmm_def and "<quota>" not in vmm_def, vmm_def
    assert "--definition" in Path(f"/proc/{pid}/cmdline").read_text().split("\0")
    assert "running" in state_line(env, "w")

    # A live change from another `qv`: the group's files and the definition.
    qv(env, "vm", "set", "w", "--cpu-weight", "1024", "--cpu-cap", "50")
    expect_files(cgroup, cg, 1024, 50, 2)
    xml = qv(env, "vm", "show", "w", "--xml").stdout
    assert "<shares>1024</shares>" in xml and "<quota>50000</quota>" in xml, xml
    qv(env, "vm", "set", "w", "--cpu-cap", "0")
    expect_files(cgroup, cg, 1024, 0, 2)
    assert runtime(env, "w")["pid"] == pid

    qv(env, "vm", "stop", "w")
    assert wait_gone(pid)
    assert not Path(cg).exists(), "the VM's cgroup outlived it"
    assert not (d / "vmm.xml").exists()
    # The stored definition keeps the weight for the next start.
    qv(env, "vm", "start", "w")
    rt2 = runtime(env, "w")
    expect_files(cgroup, rt2["cgroup"], 1024, 0, 2)
    assert rt2["pid"] in cg_pids(rt2["cgroup"])
    qv(env, "vm", "stop", "--force", "w")
    assert wait_gone(rt2["pid"])
    assert not Path(rt2["cgroup"]).exists()


def test_limits_set_on_a_running_vm_without_them_make_its_group(env, cgroup):
    create(env, "l", vcpus=1)
    qv(env, "vm", "start", "l")
    rt = runtime(env, "l")
    assert "cgroup" not in rt, rt
    qv(env, "vm", "set", "l", "--cpu-weight", "128")
    rt = runtime(env, "l")
    expect_files(cgroup, rt["cgroup"], 128, 0, 1)
    assert rt["pid"] in cg_pids(rt["cgroup"])
    # A crash removes it too, once a caller sees the VM gone.
    os.kill(rt["pid"], signal.SIGKILL)
    assert wait_gone(rt["pid"])
    assert "crash" in state_line(env, "l")
    deadline = time.monotonic() + 5
    while Path(rt["cgroup"]).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(rt["cgroup"]).exists()


def test_vms_of_the_same_name_and_uuid_in_two_roots_get_groups_of_their_own(env, cgroup):
    # A copied state root: same name, same UUID, another directory.
    other = env["tmp"] / "root2"
    other.mkdir()
    uri2 = f"kvm:///session?root={other}&vmm_uri=noop:///"
    same = str(uuid.uuid4())
    tune = "<cputune><shares>512</shares></cputune>"
    create(env, "twin", vcpus=1, cputune=tune, vm_uuid=same)
    create(env, "twin", vcpus=1, cputune=tune, vm_uuid=same, uri=uri2)
    qv(env, "vm", "start", "twin")
    qv(env, "vm", "start", "twin", uri=uri2)
    a = runtime(env, "twin")
    b = json.loads((other / "kvm" / "twin" / "runtime.json").read_text())
    try:
        assert a["cgroup"] != b["cgroup"], a["cgroup"]
        assert same in Path(a["cgroup"]).name, a["cgroup"]
        assert cg_pids(a["cgroup"]) == {a["pid"]} and cg_pids(b["cgroup"]) == {b["pid"]}
        # Stopping one leaves the other's group and limits alone.
        qv(env, "vm", "stop", "--force", "twin", uri=uri2)
        assert wait_gone(b["pid"])
        assert Path(a["cgroup"]).is_dir() and cg_pids(a["cgroup"]) == {a["pid"]}
        expect_files(cgroup, a["cgroup"], 512, 0, 1)
    finally:
        qv(env, "vm", "stop", "--force", "twin", uri=uri2, check=False)
        qv(env, "vm", "stop", "--force", "twin", check=False)


def test_a_group_of_the_vms_name_holding_processes_is_not_joined(env, cgroup):
    create(env, "busy", vcpus=1, cputune="<cputune><shares>512</shares></cputune>")
    d = vm_dir(env, "busy")
    qv(env, "vm", "start", "busy")
    rt = runtime(env, "busy")
    cg = rt["cgroup"]
    qv(env, "vm", "stop", "--force", "busy")
    assert wait_gone(rt["pid"]) and not Path(cg).exists()
    # Someone else's process in a group of that name (a leftover, another
    # qv-vmm): the start is refused naming it and the group is left alone.
    Path(cg).mkdir()
    squatter = subprocess.Popen(["sleep", "300"])
    try:
        Path(cg, "cgroup.procs").write_text(str(squatter.pid))
        p = qv(env, "vm", "start", "busy", check=False)
        refused(p, "cannot start VM 'busy'", f"cgroup {cg} already holds processes")
        assert cg_pids(cg) == {squatter.pid}
        assert not (d / "runtime.json").exists()
        assert "running" not in state_line(env, "busy")
    finally:
        squatter.kill()
        squatter.wait()
    # Empty, it is a leftover: reused.
    deadline = time.monotonic() + 5
    while cg_read(cg, "cgroup.procs") and time.monotonic() < deadline:
        time.sleep(0.05)
    qv(env, "vm", "start", "busy")
    rt = runtime(env, "busy")
    assert rt["cgroup"] == cg and cg_pids(cg) == {rt["pid"]}
    log = (d / "qv.log").read_text()
    assert "CPU weight 512, no cap" in log and "cap 0%" not in log, log
    qv(env, "vm", "stop", "--force", "busy")


def test_a_start_whose_qv_was_killed_before_the_guest_ran_is_finished(env, cgroup):
    create(env, "pl", vcpus=1, cputune="<cputune><shares>512</shares></cputune>")
    d = vm_dir(env, "pl")
    qv(env, "vm", "start", "pl")
    rt = runtime(env, "pl")
    pid, cg = rt["pid"], rt["cgroup"]
    # What a qv killed between writing the record and `cont` leaves: the
    # record in its prelaunch phase, qv-vmm paused and not (yet) in its
    # group.
    assert "phase" not in rt.get("extra", {})
    qmp(d / "qmp.sock", "stop")
    own = Path(cg).parent.parent
    Path(own, "cgroup.procs").write_text(str(pid))
    assert pid not in cg_pids(cg)
    rt["extra"]["phase"] = "prelaunch"
    (d / "runtime.json").write_text(json.dumps(rt))
    st = state_line(env, "pl")
    assert "stopped" in st and "fail" in st, st
    # vm start finishes the job: the group checked, qv-vmm in it, the
    # guest run; no second qv-vmm.
    qv(env, "vm", "start", "pl")
    assert "running" in state_line(env, "pl")
    rt2 = runtime(env, "pl")
    assert rt2["pid"] == pid and "phase" not in rt2["extra"], rt2
    assert pid in cg_pids(cg)
    assert "finishing the start" in (d / "qv.log").read_text()
    qv(env, "vm", "stop", "--force", "pl")
    assert wait_gone(pid) and not Path(cg).exists()


def test_weight_over_what_the_host_cgroup_says_is_refused_at_start(env, cgroup):
    if cgroup != "v2":
        pytest.skip("cgroup v1 expresses every weight qv accepts (cpu.shares up to 262144)")
    create(env, "big", vcpus=1, cputune="<cputune><shares>30000</shares></cputune>")
    p = qv(env, "vm", "start", "big", check=False)
    refused(p, "cannot start VM 'big'", "cgroup v2")
    assert not (vm_dir(env, "big") / "runtime.json").exists()


def without_cgroup_mounts(points):
    """A preexec_fn: the child gets a mount namespace of its own in which
    points are unmounted, so that it sees a host without them."""
    def setup():
        libc = ctypes.CDLL(None, use_errno=True)
        CLONE_NEWNS, MS_REC, MS_PRIVATE, MNT_DETACH = 0x20000, 0x4000, 1 << 18, 2
        if libc.unshare(CLONE_NEWNS) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
        if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
            raise OSError(ctypes.get_errno(), "mount --make-rprivate /")
        for p in points:
            if libc.umount2(p.encode(), MNT_DETACH) != 0:
                raise OSError(ctypes.get_errno(), f"umount {p}")
    return setup


def cpu_mounts():
    """Every mount point of a hierarchy that can carry the cpu controller
    (v1 cpu, cgroup2)."""
    out = []
    for m in Path("/proc/self/mountinfo").read_text().splitlines():
        left, right = m.split(" - ", 1)
        rfields = right.split()
        if rfields[0] == "cgroup2" or (rfields[0] == "cgroup" and
                                       "cpu" in rfields[2].split(",")):
            out.append(left.split()[4].replace("\\040", " "))
    return out


def test_start_without_a_cpu_cgroup_is_refused_naming_what_is_missing(env, cgroup):
    create(env, "n", vcpus=1, cputune="<cputune><shares>512</shares></cputune>")
    d = vm_dir(env, "n")
    points = cpu_mounts()
    probe = subprocess.run(["/bin/true"], preexec_fn=without_cgroup_mounts(points),
                           capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot make a mount namespace without the cgroup mounts here")
    p = subprocess.run([QV, "-c", env["uri"], "vm", "start", "n"], capture_output=True,
                       text=True, timeout=60, preexec_fn=without_cgroup_mounts(points))
    refused(p, "CPU weight or cap of VM 'n'",
            "no cgroup hierarchy with the cpu controller is mounted")
    # Nothing is left running or recorded.
    assert not (d / "runtime.json").exists()
    mark = f"--dir\0{d}\0".encode()

    def cmdline(pid):
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return b""  # gone meanwhile
    left = [x for x in os.listdir("/proc") if x.isdigit() and alive(int(x))
            and cmdline(x).endswith(mark)]
    assert left == [], left
    assert "running" not in state_line(env, "n")
    # Where the host has the controller the same VM starts.
    qv(env, "vm", "start", "n")
    assert "running" in state_line(env, "n")
    qv(env, "vm", "stop", "--force", "n")


# ---- pins -----------------------------------------------------------------

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


def cpus_allowed(pid, tid):
    for line in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError("no Cpus_allowed_list")


def cpu_list(cpus):
    """The kernel's list syntax for a set of CPU numbers."""
    out, run = [], []
    for c in sorted(cpus):
        if run and c == run[-1] + 1:
            run.append(c)
        else:
            if run:
                out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
            run = [c]
    out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)


def test_live_pins_on_the_threads_qv_vmm_names(env):
    create(env, "p", vcpus=2)
    d = vm_dir(env, "p")
    qv(env, "vm", "start", "p")
    pid = runtime(env, "p")["pid"]
    threads = {c["cpu-index"]: c["thread-id"] for c in qmp(d / "qmp.sock",
                                                           "query-cpus-fast")["return"]}
    assert set(threads) == {0, 1}
    # noop:/// has no vCPU threads: qv-vmm names its main thread (docs).
    assert threads == {0: pid, 1: pid}
    mine = sorted(os.sched_getaffinity(0))
    before = cpus_allowed(pid, pid)
    assert before == cpu_list(mine), (before, mine)
    target = mine[-1]
    qv(env, "vm", "set", "p", "--cpu-pin", f"0:{target}")
    assert cpus_allowed(pid, threads[0]) == str(target)
    assert f"<vcpupin vcpu='0' cpuset='{target}'/>" in (d / "domain.xml").read_text() or \
        f'<vcpupin vcpu="0" cpuset="{target}"/>' in (d / "domain.xml").read_text()
    shown = qv(env, "vm", "show", "p", "--cpu-pin").stdout
    assert f"vCPU 0 → pCPU {target}" in shown, shown
    # Back to every CPU qv-vmm was started with, not the main thread's
    # pinned set.
    qv(env, "vm", "set", "p", "--cpu-pin", "auto")
    assert cpus_allowed(pid, threads[0]) == before
    assert "vcpupin" not in (d / "domain.xml").read_text()
    # spread: vCPU i on the i-th CPU of the caller; both are one thread
    # here, so the last pin (vCPU 1's) is what it has.
    qv(env, "vm", "set", "p", "--cpu-pin", "spread")
    assert cpus_allowed(pid, pid) == str(mine[1 % len(mine)])
    shown = qv(env, "vm", "show", "p", "--cpu-pin").stdout
    assert f"vCPU 0 → pCPU {mine[0]}" in shown and f"vCPU 1 → pCPU {mine[1 % len(mine)]}" \
        in shown, shown
    # Pins stay in the definition and qv-vmm is given them at the next start.
    qv(env, "vm", "stop", "--force", "p")
    assert wait_gone(pid)
    qv(env, "vm", "start", "p")
    assert "<vcpupin" in (d / "vmm.xml").read_text()
    qv(env, "vm", "stop", "--force", "p")


def test_what_qv_vmm_cannot_change_live_is_refused(env):
    create(env, "r", vcpus=1)
    qv(env, "vm", "start", "r")
    xml_before = (vm_dir(env, "r") / "domain.xml").read_text()
    for args, why in ((["--vcpus", "2"], "only at start"), (["--memory", "32M"], "only at start")):
        p = qv(env, "vm", "set", "r", *args, check=False)
        refused(p, "VM 'r' is running on kvm:///session", why)
    p = qv(env, "vm", "set", "r", "--cpu-pin", "5:0", check=False)
    refused(p, "vCPU 5")
    assert (vm_dir(env, "r") / "domain.xml").read_text() == xml_before
    qv(env, "vm", "stop", "--force", "r")


def test_a_pin_to_a_cpu_the_host_lacks_is_refused_naming_it(env):
    create(env, "h", vcpus=1)
    d = vm_dir(env, "h")
    qv(env, "vm", "start", "h")
    pid = runtime(env, "h")["pid"]
    before = cpus_allowed(pid, pid)
    xml_before = (d / "domain.xml").read_text()
    p = qv(env, "vm", "set", "h", "--cpu-pin", "0:1000", check=False)
    refused(p, "vCPU 0", "host CPU 1000 does not exist or is not allowed")
    assert cpus_allowed(pid, pid) == before
    assert (d / "domain.xml").read_text() == xml_before
    qv(env, "vm", "stop", "--force", "h")


def test_a_reset_keeps_the_live_pins(env):
    # kvm:///embed makes new qv-vcpuN threads at a reset, pinned as
    # vmm.xml (the start's) says; noop's vCPU thread is qv-vmm's main
    # thread, so the test plays the new thread's part by widening it.
    mine = sorted(os.sched_getaffinity(0))
    if len(mine) < 2:
        pytest.skip("one CPU: a pin cannot be told from no pin")
    create(env, "rs", vcpus=1)
    d = vm_dir(env, "rs")
    qv(env, "vm", "start", "rs")
    pid = runtime(env, "rs")["pid"]
    qv(env, "vm", "set", "rs", "--cpu-pin", f"0:{mine[-1]}")
    assert cpus_allowed(pid, pid) == str(mine[-1])
    assert "vcpupin" not in (d / "vmm.xml").read_text()
    os.sched_setaffinity(pid, mine)
    qv(env, "vm", "reset", "rs")
    assert cpus_allowed(pid, pid) == str(mine[-1])
    assert "applied again after the reset" in (d / "qv.log").read_text()
    qv(env, "vm", "stop", "--force", "rs")


# ---- a record qv-vmm rewrote ----------------------------------------------

def forge_record(e, name, victim):
    """runtime.json naming victim as a compromised qv-vmm (same user, the
    VM directory writable) could write it: pid, start time, command line."""
    d = vm_dir(e, name)
    real = runtime(e, name)
    # Popen may return before the child has run exec: its identity is the
    # sleep's only once the command line says so.
    deadline = time.monotonic() + 5
    while not Path(f"/proc/{victim}/cmdline").read_bytes().startswith(b"sleep\0"):
        assert time.monotonic() < deadline, "sleep did not start"
        time.sleep(0.01)
    fields = Path(f"/proc/{victim}/stat").read_text().rsplit(")", 1)[1].split()
    cmd = Path(f"/proc/{victim}/cmdline").read_bytes().replace(b"\0", b" ").decode().rstrip()
    (d / "runtime.json").write_text(json.dumps(
        {**real, "pid": victim, "start_time": int(fields[19]), "cmdline": cmd}))
    return real


def qv_groups(pid):
    return [l for l in Path(f"/proc/{pid}/cgroup").read_text().splitlines() if "/qv/" in l]


def test_a_forged_record_never_makes_qv_act_on_another_process(env):
    create(env, "fg", vcpus=1)
    d = vm_dir(env, "fg")
    qv(env, "vm", "start", "fg")
    victim = subprocess.Popen(["sleep", "300"])
    try:
        aff = os.sched_getaffinity(victim.pid)
        real = forge_record(env, "fg", victim.pid)
        xml_before = (d / "domain.xml").read_text()
        why = f"names process {victim.pid}, which is not the VM's qv-vmm"
        for args in (["set", "fg", "--cpu-cap", "1"], ["set", "fg", "--cpu-weight", "100"],
                     ["set", "fg", "--cpu-pin", f"0:{sorted(aff)[-1]}"], ["pause", "fg"]):
            refused(qv(env, "vm", *args, check=False), why)
        # The state is what the VM's own qv-vmm says on its status socket;
        # the record's pid is not used for it.
        assert "running" in state_line(env, "fg")
        assert os.sched_getaffinity(victim.pid) == aff
        assert qv_groups(victim.pid) == [], qv_groups(victim.pid)
        assert (d / "domain.xml").read_text() == xml_before
        # A stop refuses the record too, leaves the process it names alone
        # and ends the VM's own qv-vmm, found by its command line.
        refused(qv(env, "vm", "stop", "--force", "fg", check=False), why)
        assert wait_gone(real["pid"])
        time.sleep(0.2)
        assert victim.poll() is None, "the process the record named was signalled"
        assert not (d / "runtime.json").exists()
        assert "stopped" in state_line(env, "fg")
        assert "is not this VM's qv-vmm: left alone" in (d / "qv.log").read_text()
    finally:
        victim.kill()
        victim.wait()


# ---- files a link stands in for -------------------------------------------

def test_links_in_place_of_state_files_are_not_followed(env):
    create(env, "ln", vcpus=1)
    d = vm_dir(env, "ln")
    real = env["tmp"] / "elsewhere.xml"
    (d / "domain.xml").rename(real)
    (d / "domain.xml").symlink_to(real)
    refused(qv(env, "vm", "start", "ln", check=False), "domain.xml' is a symbolic link")
    assert not (d / "runtime.json").exists()
    (d / "domain.xml").unlink()
    real.rename(d / "domain.xml")
    qv(env, "vm", "start", "ln")
    pid = runtime(env, "ln")["pid"]
    rec = env["tmp"] / "runtime.json"
    (d / "runtime.json").rename(rec)
    (d / "runtime.json").symlink_to(rec)
    refused(qv(env, "vm", "show", "ln", check=False), "runtime.json' is a symbolic link")
    (d / "runtime.json").unlink()
    rec.rename(d / "runtime.json")
    qv(env, "vm", "stop", "--force", "ln")
    assert wait_gone(pid)


# ---- messages -------------------------------------------------------------

def test_a_start_that_cannot_write_vmm_xml_names_the_vm_and_logs(env):
    create(env, "c", vcpus=1)
    d = vm_dir(env, "c")
    (d / "vmm.xml").mkdir()
    (d / "vmm.xml" / "x").write_text("")
    p = qv(env, "vm", "start", "c", check=False)
    refused(p, "cannot start VM 'c': ", "vmm.xml")
    assert "start failed: " in (d / "qv.log").read_text()
    assert not (d / "runtime.json").exists()


# ---- crash ----------------------------------------------------------------

PR_SET_CHILD_SUBREAPER = 36


def test_forbidden_syscall_kills_qv_vmm_and_the_vm_is_reported_crashed(env):
    if not VMM_TEST or not os.access(VMM_TEST, os.X_OK):
        pytest.fail("QV_VMM_TEST must name the built qv-vmm-test (run through ctest)")
    libc = ctypes.CDLL(None, use_errno=True)
    # qv-vmm outlives `qv vm start`; as subreaper this test inherits it and
    # sees how it ended.
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    try:
        create(env, "x", vcpus=1)
        penv = {**os.environ, "QV_VMM": VMM_TEST}
        p = subprocess.run([QV, "-c", env["uri"], "vm", "start", "x"], capture_output=True,
                           text=True, timeout=60, env=penv)
        assert p.returncode == 0, p.stderr
        pid = runtime(env, "x")["pid"]
        assert Path(f"/proc/{pid}/exe").resolve() == Path(VMM_TEST).resolve()
        assert "running" in state_line(env, "x")
        with pytest.raises((ConnectionError, json.JSONDecodeError, OSError)):
            qmp(vm_dir(env, "x") / "qmp.sock", "x-qv-test-forbidden-syscall")
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS, status
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
    st = state_line(env, "x")
    assert "stopped" in st and "crash" in st, st
    info = subprocess.run(
        ["/usr/bin/python3", "-c",
         f"import qv; i = qv.connect({env['uri']!r}).lookup('x').info; "
         "print(i.state.name, i.reason.name)"],
        capture_output=True, text=True, timeout=60)
    assert info.stdout.split() == ["STOPPED", "CRASHED"], info.stdout + info.stderr
    assert "ended without being stopped" in (vm_dir(env, "x") / "qv.log").read_text()


# ---- on KVM ---------------------------------------------------------------

GUESTS = os.environ.get("QV_GUESTS_DIR")


def test_kvm_vcpu_threads_pinned_at_start_and_live_and_in_the_cgroup(env):
    # The same on kvm:///embed inside qv-vmm, which has real vCPU threads
    # ("qv-vcpuN"): <vcpupin> at start is the inner driver's own, a live
    # pin is the session's, and the vCPU threads, made at cont, are born
    # in the VM's group.
    if not kvm_usable():
        pytest.skip("/dev/kvm is not usable here: no vCPU threads to pin")
    spin = Path(GUESTS or "/nonexistent", "spin.elf")
    if not spin.is_file():
        pytest.skip(f"the test guest {spin} is not built")
    mine = sorted(os.sched_getaffinity(0))
    first, last = mine[0], mine[-1]
    version, _ = cgroup_usable()
    cputune = f"<vcpupin vcpu='0' cpuset='{last}'/>" + ("<shares>512</shares>" if version else "")
    uri = f"kvm:///session?root={env['root']}"
    xml = env["tmp"] / "k.xml"
    xml.write_text(f"""<domain type='kvm'><name>k</name><memory unit='MiB'>32</memory>
<vcpu>1</vcpu><cputune>{cputune}</cputune>
<os><type arch='x86_64'>hvm</type><kernel>{spin}</kernel></os></domain>""")
    qv(env, "vm", "create", "--xml", str(xml), uri=uri)
    qv(env, "vm", "start", "k", uri=uri)
    try:
        pid = runtime(env, "k")["pid"]
        tids = [t for t in os.listdir(f"/proc/{pid}/task")
                if Path(f"/proc/{pid}/task/{t}/comm").read_text().strip() == "qv-vcpu0"]
        assert len(tids) == 1, tids
        tid = int(tids[0])
        named = qmp(vm_dir(env, "k") / "qmp.sock", "query-cpus-fast")["return"]
        assert [c["thread-id"] for c in named] == [tid], named
        assert cpus_allowed(pid, tid) == str(last)
        qv(env, "vm", "set", "k", "--cpu-pin", f"0:{first}", uri=uri)
        assert cpus_allowed(pid, tid) == str(first)
        qv(env, "vm", "set", "k", "--cpu-pin", "auto", uri=uri)
        assert cpus_allowed(pid, tid) == cpu_list(mine)
        if version:
            cg = runtime(env, "k")["cgroup"]
            # The vCPU thread was made after qv-vmm moved in.
            lines = [l for l in Path(f"/proc/{pid}/task/{tid}/cgroup").read_text().splitlines()
                     if l.endswith("/qv/" + Path(cg).name)]
            assert lines, (cg, Path(f"/proc/{pid}/task/{tid}/cgroup").read_text())
    finally:
        qv(env, "vm", "stop", "--force", "k", uri=uri)
