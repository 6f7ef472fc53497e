"""What a running QEMU guest reports: statistics (qv vm stats). The Linux
test guest (tests/fixtures/build-guest.sh) boots under TCG with two vCPUs
and a virtio disk, which its kernel reads when virtio_blk loads. One guest
is booted and reused across the steps, which run in order."""
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

SRC = Path(os.environ.get("QV_SOURCE_DIR", Path(__file__).resolve().parents[3]))
QV = os.environ.get("QV_CLI")
NAME = "tcg-live"
BOOT_TIMEOUT = 180


def qv(state, *args, check=True, timeout=120):
    p = subprocess.run([QV, "-c", state["uri"], *args], capture_output=True, text=True,
                       timeout=timeout)
    if check:
        assert p.returncode == 0, f"qv {' '.join(args)}: {p.stdout}{p.stderr}"
    return p


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def console(state):
    try:
        return (state["dir"] / "console.log").read_text(errors="replace")
    except FileNotFoundError:
        return ""


def stats(state):
    return json.loads(qv(state, "vm", "stats", NAME, "--json").stdout)["stats"]


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    if not QV:
        pytest.fail("QV_CLI is not set (run through ctest)")
    built = subprocess.run([str(SRC / "tests/fixtures/build-guest.sh")], capture_output=True,
                           text=True, timeout=600)
    assert built.returncode == 0, f"guest fixture: {built.stderr}"
    guest = Path(built.stdout.strip())
    root = tmp_path_factory.mktemp("qv-live")
    disk = root / "disk.raw"
    disk.write_bytes(b"\0" * (4 << 20))
    xml = root / "guest.xml"
    xml.write_text(f"""<domain type='qemu'>
  <name>{NAME}</name>
  <memory unit='MiB'>256</memory>
  <currentMemory unit='MiB'>192</currentMemory>
  <vcpu>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{guest}/vmlinuz</kernel>
    <initrd>{guest}/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet panic=-1</cmdline>
  </os>
  <features><acpi/></features>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/><source file='{disk}'/><target dev='vda' bus='virtio'/>
    </disk>
    <interface type='user'><model type='virtio'/></interface>
  </devices>
</domain>
""")
    st = {"uri": f"qemu:///session?root={root}", "dir": root / "qemu" / NAME, "xml": xml,
          "disk": disk}
    qv(st, "vm", "create", "--xml", str(xml))
    yield st
    qv(st, "vm", "destroy", NAME, check=False)


def test_stats_of_a_stopped_vm_are_the_definition(state):
    s = stats(state)
    assert s == {"state.state": 0, "state.reason": 0, "balloon.current": 196608,
                 "balloon.maximum": 262144, "vcpu.current": 2, "vcpu.maximum": 2}


def test_stats_grow_while_the_guest_runs(state):
    qv(state, "vm", "start", NAME)
    # Taken while the kernel boots, before virtio_blk has read the disk.
    early = stats(state)
    wait_for(lambda: "QV-TICK" in console(state), BOOT_TIMEOUT, "the guest to boot")
    late = stats(state)
    assert late["state.state"] == 1
    assert late["cpu.time"] > early["cpu.time"] > 0
    assert late["cpu.time"] == late["cpu.user"] + late["cpu.system"]
    assert late["vcpu.0.time"] + late["vcpu.1.time"] > early["vcpu.0.time"] + early["vcpu.1.time"]
    assert late["vcpu.0.time"] + late["vcpu.1.time"] <= late["cpu.time"]
    assert late["vcpu.0.state"] == late["vcpu.1.state"] == 1
    assert 0 < late["balloon.rss"] < 1 << 30
    assert late["block.count"] == 1 and late["block.0.name"] == "vda"
    assert late["block.0.path"] == str(state["disk"])
    # The kernel read the partition table when virtio_blk loaded.
    assert late["block.0.rd.bytes"] > early["block.0.rd.bytes"]
    assert late["block.0.rd.reqs"] > early["block.0.rd.reqs"]
    assert late["net.count"] == 1 and late["net.0.name"] == "net0"
    assert not any(k.startswith("net.0.rx") for k in late)  # slirp has no counters


def test_stats_text_is_virsh_domstats_format(state):
    out = qv(state, "vm", "stats", NAME).stdout.splitlines()
    assert out[0] == f"Domain: '{NAME}'"
    assert out[1:3] == ["  state.state=1", "  state.reason=0"]
    assert out[-1] == ""
    keys = [line.strip().split("=", 1)[0] for line in out[1:-1]]
    assert keys.index("cpu.time") < keys.index("balloon.current") < keys.index("vcpu.0.time") \
        < keys.index("net.count") < keys.index("block.0.rd.bytes")


def mem_total(state):
    """The guest's latest MemTotal in kB (its QV-MEM line)."""
    lines = [l for l in console(state).splitlines() if l.startswith("QV-MEM ")]
    return int(lines[-1].split()[1]) if lines else None


def balloon_settles(state, kib):
    """Wait until the guest holds kib KiB, then for its next MemTotal line."""
    wait_for(lambda: stats(state)["balloon.current"] == kib, 90, f"the balloon to reach {kib} KiB")
    n = console(state).count("QV-TICK")
    wait_for(lambda: console(state).count("QV-TICK") >= n + 2, 30, "two ticks")
    return mem_total(state)


def test_memory_follows_the_balloon(state):
    """<currentMemory> inflates the balloon at start; --memory moves it on
    the running guest, whose MemTotal follows."""
    wait_for(lambda: mem_total(state) is not None, BOOT_TIMEOUT, "the guest's QV-MEM line")
    at_192 = balloon_settles(state, 192 << 10)
    assert "QV-GUEST: cannot load module virtio_balloon" not in console(state)
    qv(state, "vm", "set", NAME, "--memory", "128M")
    at_128 = balloon_settles(state, 128 << 10)
    # The balloon took 64 MiB from the kernel's managed memory.
    assert abs((at_192 - at_128) - (64 << 10)) <= 1024, (at_192, at_128)
    assert "  Memory:       131072 KiB (balloon)\n" in in_force(state)
    assert "<currentMemory unit=\"KiB\">131072</currentMemory>" in \
        qv(state, "vm", "show", NAME, "--xml").stdout
    qv(state, "vm", "set", NAME, "--memory", "256M")
    at_256 = balloon_settles(state, 256 << 10)
    assert abs((at_256 - at_192) - (64 << 10)) <= 1024, (at_192, at_256)
    assert "<currentMemory" not in qv(state, "vm", "show", NAME, "--xml").stdout
    p = qv(state, "vm", "set", NAME, "--memory", "512M", check=False)
    assert p.returncode != 0 and "exceeds its maximum memory of 262144 KiB" in p.stderr, p.stderr
    assert stats(state)["balloon.current"] == 256 << 10
    qv(state, "vm", "set", NAME, "--memory", "192M")


def test_no_balloon_refuses_memory_changes(tmp_path):
    st = {"uri": f"qemu:///session?root={tmp_path}"}
    xml = tmp_path / "nb.xml"
    body = """<domain type='qemu'><name>tcg-noballoon</name>
  <memory unit='MiB'>64</memory>%s<vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices><memballoon model='none'/></devices></domain>"""
    xml.write_text(body % "<currentMemory unit='MiB'>32</currentMemory>")
    p = qv(st, "vm", "create", "--xml", str(xml), check=False)
    assert p.returncode != 0 and "needs a balloon" in p.stderr, p.stdout + p.stderr
    xml.write_text(body % "")
    qv(st, "vm", "create", "--xml", str(xml))
    try:
        qv(st, "vm", "start", "tcg-noballoon")
        p = qv(st, "vm", "set", "tcg-noballoon", "--memory", "32M", check=False)
        assert p.returncode != 0 and "needs a balloon" in p.stderr, p.stderr
        assert "Memory:" not in qv(st, "vm", "show", "tcg-noballoon").stdout.split("In force")[1]
        assert "balloon0" not in (tmp_path / "qemu/tcg-noballoon/qemu.log").read_text() + \
            json.dumps(qmp({"dir": tmp_path / "qemu/tcg-noballoon"}, "qom-list",
                           {"path": "/machine/peripheral"}))
    finally:
        qv(st, "vm", "destroy", "tcg-noballoon", check=False)


def vcpu_threads(state):
    """vCPU index -> thread id, from the names QEMU gives its threads
    (-name debug-threads=on: "CPU 0/TCG")."""
    pid = json.loads((state["dir"] / "runtime.json").read_text())["pid"]
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        comm = (task / "comm").read_text().strip()
        if comm.startswith("CPU ") and "/" in comm:
            out[int(comm[4:].split("/")[0])] = int(task.name)
    assert sorted(out) == [0, 1], out
    return pid, out


def test_cpu_pins_reach_the_vcpu_threads_and_auto_clears_them(state):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("this process may use one CPU only: pinned and unpinned look alike")
    pid, threads = vcpu_threads(state)
    everything = os.sched_getaffinity(pid)
    one = min(everything)
    qv(state, "vm", "set", NAME, "--cpu-pin", f"0:{one},1:{one}")
    assert [os.sched_getaffinity(threads[i]) for i in (0, 1)] == [{one}, {one}]
    qv(state, "vm", "set", NAME, "--cpu-pin", "auto")
    # Scheduler-managed again: every CPU the QEMU process may use.
    assert [os.sched_getaffinity(threads[i]) for i in (0, 1)] == [everything, everything]
    cpus = ",".join(map(str, sorted(everything))) if len(everything) < 2 else \
        f"{min(everything)}-{max(everything)}"
    if len(everything) == max(everything) - min(everything) + 1:  # contiguous: "0-1"
        assert qv(state, "vm", "show", NAME, "--cpu-pin").stdout == \
            f"vCPU 0 → any; in force: CPUs {cpus}\nvCPU 1 → any; in force: CPUs {cpus}\n"
    qv(state, "vm", "set", NAME, "--cpu-pin", "spread")
    mine = sorted(os.sched_getaffinity(0))
    assert [os.sched_getaffinity(threads[i]) for i in (0, 1)] == [{mine[0]}, {mine[1]}]
    qv(state, "vm", "set", NAME, "--cpu-pin", "auto")
    assert [os.sched_getaffinity(threads[i]) for i in (0, 1)] == [everything, everything]


def qmp(state, command, arguments=None):
    """One command on the VM's second monitor, as another QMP client would."""
    import socket
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(state["dir"] / "status.sock"))
        f = s.makefile("rwb")
        f.readline()
        for cmd in ({"execute": "qmp_capabilities"},
                    {"execute": command, **({"arguments": arguments} if arguments else {})}):
            f.write(json.dumps(cmd).encode() + b"\n")
            f.flush()
            while True:
                reply = json.loads(f.readline())
                if "event" not in reply:
                    break
            assert "return" in reply, reply
        return reply["return"]


def in_force(state):
    out = qv(state, "vm", "show", NAME).stdout
    assert "In force (read back from the running VM):" in out, out
    return out.split("In force (read back from the running VM):\n", 1)[1]


def test_show_reads_back_what_is_in_force(state):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("this process may use one CPU only: pinned and unpinned look alike")
    _, threads = vcpu_threads(state)
    a, b = sorted(os.sched_getaffinity(0))[:2]
    qv(state, "vm", "set", NAME, "--cpu-pin", f"0:{a}", "--io-limit", "2M", "--disk", "vda")
    live = in_force(state)
    assert f"  vCPU 0:       CPUs {a}\n" in live, live
    assert "  Disk vda:     bytes/s 2097152, IOPS unlimited\n" in live, live
    # Changed behind libqv's back: what show reports is the thread's and
    # QEMU's, not the definition's.
    os.sched_setaffinity(threads[0], {b})
    backend = [e for e in qmp(state, "query-block") if e.get("qdev", "").startswith(
        "/machine/peripheral/vda")][0]["qdev"]
    qmp(state, "block_set_io_throttle", {"id": backend, "bps": 0, "bps_rd": 0, "bps_wr": 0,
                                          "iops": 77, "iops_rd": 0, "iops_wr": 0})
    live = in_force(state)
    assert f"  vCPU 0:       CPUs {b}\n" in live, live
    assert "  Disk vda:     bytes/s unlimited, IOPS 77\n" in live, live
    pins = qv(state, "vm", "show", NAME, "--cpu-pin").stdout.splitlines()
    assert pins[0].startswith(f"vCPU 0 → pCPU {a}") and pins[0].endswith(f"; in force: CPUs {b}")
    assert "<total_bytes_sec>2097152</total_bytes_sec>" in qv(state, "vm", "show", NAME,
                                                                "--xml").stdout


def test_a_stopped_vm_has_nothing_in_force(state):
    qv(state, "vm", "stop", NAME, "--force")
    out = qv(state, "vm", "show", NAME).stdout
    assert "In force" not in out
    assert "; in force" not in qv(state, "vm", "show", NAME, "--cpu-pin").stdout


def test_unpinning_under_numatune_returns_to_the_node(tmp_path):
    """A vCPU unpinned live goes back to its <numatune> node's CPUs, not to
    the QEMU process's set (here narrower than the node: qv runs on one CPU)."""
    node = Path("/sys/devices/system/node/node0/cpulist")
    if not node.exists():
        pytest.skip("the host reports no NUMA node 0")
    lo, _, hi = node.read_text().strip().split(",")[0].partition("-")
    node_cpus = set(range(int(lo), int(hi or lo) + 1))
    if len(node_cpus) < 2 or not node_cpus <= os.sched_getaffinity(0):
        pytest.skip(f"NUMA node 0 needs two CPUs this process may use (it has {node_cpus})")
    one = min(node_cpus)
    st = {"uri": f"qemu:///session?root={tmp_path}", "dir": tmp_path / "qemu" / "tcg-numa"}
    xml = tmp_path / "numa.xml"
    xml.write_text("""<domain type='qemu'><name>tcg-numa</name>
  <memory unit='MiB'>64</memory><vcpu>2</vcpu>
  <numatune><memory mode='strict' nodeset='0'/></numatune>
  <os><type arch='x86_64' machine='pc'>hvm</type></os></domain>""")

    def narrow():
        os.sched_setaffinity(0, {one})

    def qv_narrow(*args):
        p = subprocess.run([QV, "-c", st["uri"], *args], capture_output=True, text=True,
                           timeout=120, preexec_fn=narrow)
        assert p.returncode == 0, p.stderr
        return p

    qv_narrow("vm", "create", "--xml", str(xml))
    try:
        qv_narrow("vm", "start", "tcg-numa")
        pid = json.loads((st["dir"] / "runtime.json").read_text())["pid"]
        assert os.sched_getaffinity(pid) == {one}
        threads = {}
        for task in Path(f"/proc/{pid}/task").iterdir():
            comm = (task / "comm").read_text().strip()
            if comm.startswith("CPU "):
                threads[int(comm[4:].split("/")[0])] = int(task.name)
        assert os.sched_getaffinity(threads[1]) == node_cpus  # bound at start
        qv_narrow("vm", "set", "tcg-numa", "--cpu-pin", f"1:{one}")
        assert os.sched_getaffinity(threads[1]) == {one}
        qv_narrow("vm", "set", "tcg-numa", "--cpu-pin", "auto")
        assert os.sched_getaffinity(threads[1]) == node_cpus
    finally:
        qv(st, "vm", "destroy", "tcg-numa", check=False)
