"""A real Linux guest (Debian's kernel, busybox initramfs from
tests/fixtures/build-guest.sh) under QEMU TCG, driven through the qv CLI.
One guest is booted and reused across the steps, which run in order."""
import json
import os
import pty
import signal
import subprocess
import time
from pathlib import Path

import pytest

SRC = Path(os.environ.get("QV_SOURCE_DIR", Path(__file__).resolve().parents[3]))
QV = os.environ.get("QV_CLI")
NAME = "tcg-guest"
BOOT_TIMEOUT = 180


def qv(state, *args, check=True, timeout=120):
    p = subprocess.run([QV, "-c", state["uri"], *args], capture_output=True, text=True,
                       timeout=timeout)
    if check:
        assert p.returncode == 0, f"qv {' '.join(args)}: {p.stdout}{p.stderr}"
    return p


def console(state):
    try:
        return (state["dir"] / "console.log").read_text(errors="replace")
    except FileNotFoundError:
        return ""


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def ticks(state):
    return console(state).count("QV-TICK")


def wait_booted(state, boots):
    """Wait for the boots-th READY marker and a tick after it: acpid runs."""
    wait_for(lambda: console(state).count("QV-GUEST-READY") >= boots and
             "QV-TICK" in console(state).split("QV-GUEST-READY")[boots], BOOT_TIMEOUT,
             f"boot #{boots} (QV-GUEST-READY then a tick on the console)")


def state_line(state):
    out = qv(state, "vm", "show", NAME).stdout
    return next(l for l in out.splitlines() if l.startswith("State:")).split(":", 1)[1].strip()


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    if not QV:
        pytest.fail("QV_CLI is not set (run through ctest)")
    built = subprocess.run([str(SRC / "tests/fixtures/build-guest.sh")], capture_output=True,
                           text=True, timeout=600)
    assert built.returncode == 0, f"guest fixture: {built.stderr}"
    guest = Path(built.stdout.strip())
    root = tmp_path_factory.mktemp("qv-qemu")
    xml = root / "guest.xml"
    xml.write_text(f"""<domain type='qemu'>
  <name>{NAME}</name>
  <memory unit='MiB'>256</memory>
  <vcpu current='1'>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{guest}/vmlinuz</kernel>
    <initrd>{guest}/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet panic=-1</cmdline>
  </os>
  <features><acpi/></features>
  <devices>
    <interface type='user'><model type='virtio'/></interface>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
  </devices>
</domain>
""")
    # The same guest told to power itself off after two ticks.
    xml2 = root / "guest2.xml"
    xml2.write_text(xml.read_text().replace(f"<name>{NAME}</name>", f"<name>{NAME}-2</name>")
                    .replace("panic=-1", "panic=-1 qv.poweroff_after=2"))
    st = {"uri": f"qemu:///session?root={root}", "dir": root / "qemu" / NAME, "xml": xml,
          "xml2": xml2}
    yield st
    qv(st, "vm", "destroy", NAME, check=False)
    qv(st, "vm", "destroy", f"{NAME}-2", check=False)


def test_boot_and_console(state):
    qv(state, "vm", "create", "--xml", str(state["xml"]))
    qv(state, "vm", "start", NAME)
    assert state_line(state) == "running"
    wait_booted(state, 1)
    # qv vm console attaches to the pty; with stdin not a terminal it
    # copies what the guest prints.
    p = subprocess.Popen([QV, "-c", state["uri"], "vm", "console", NAME],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(timeout=4)
    except subprocess.TimeoutExpired:
        p.terminate()
        out, err = p.communicate()
    assert b"QV-TICK" in out, f"console printed: {out[-300:]!r} {err!r}"


def test_pause_prints_nothing_then_resume(state):
    qv(state, "vm", "pause", NAME)
    assert state_line(state) == "paused"
    time.sleep(0.5)  # a line in flight when the vCPU stopped
    before = console(state)
    time.sleep(2.5)
    assert console(state) == before, "the guest printed while paused"
    n = ticks(state)
    qv(state, "vm", "resume", NAME)
    assert state_line(state) == "running"
    wait_for(lambda: ticks(state) >= n + 2, 30, "ticks after resume")


def devs(state):
    """The guest's latest QV-DEVS line: its block devices and NICs."""
    lines = [l for l in console(state).splitlines() if l.startswith("QV-DEVS ")]
    return lines[-1] if lines else ""


def test_disk_and_nic_hot_plug(state, tmp_path):
    disk = tmp_path / "hot.raw"
    with open(disk, "wb") as f:
        f.truncate(16 << 20)
    wait_for(lambda: "net=" in devs(state), 30, "the guest's first QV-DEVS line")
    assert "vda" not in devs(state)
    out = qv(state, "vm", "disk-add", NAME, "--path", str(disk)).stdout
    assert out.strip() == f"Disk vda added to VM '{NAME}' (live).", out
    wait_for(lambda: "blk=vda," in devs(state), 60, "the guest to see vda")
    assert f"<source file=\"{disk}\"/>" in qv(state, "vm", "show", NAME, "--xml").stdout

    nets_before = devs(state).split("net=")[1]
    qv(state, "vm", "nic-add", NAME, "--network", "user", "--mac", "52:54:00:12:34:99")
    wait_for(lambda: devs(state).split("net=")[1].count(",") == nets_before.count(",") + 1, 60,
             "the guest to see a new NIC")
    xml = qv(state, "vm", "show", NAME, "--xml").stdout
    assert "52:54:00:12:34:99" in xml

    # Removal waits for the guest to release the device.
    out = qv(state, "vm", "disk-remove", NAME, "--target", "vda", timeout=90).stdout
    assert out.strip() == f"Disk vda removed from VM '{NAME}' (live).", out
    wait_for(lambda: "vda" not in devs(state), 30, "vda to leave the guest")
    qv(state, "vm", "nic-remove", NAME, "--mac", "52:54:00:12:34:99", timeout=90)
    wait_for(lambda: devs(state).split("net=")[1] == nets_before, 30, "the NIC to leave the guest")
    xml = qv(state, "vm", "show", NAME, "--xml").stdout
    assert "52:54:00:12:34:99" not in xml and str(disk) not in xml
    # QEMU holds neither back end any more: the same disk can come back
    # (Linux names virtio disks in the order it finds them: vda again).
    qv(state, "vm", "disk-add", NAME, "--path", str(disk), "--target", "vdc")
    wait_for(lambda: "blk=vda," in devs(state), 60, "the guest to see the disk again")
    qv(state, "vm", "disk-remove", NAME, "--target", "vdc", timeout=90)


def blks(state):
    """How many block devices the guest has."""
    return len([b for b in devs(state).split("blk=")[1].split(" ")[0].split(",") if b])


def test_q35_hot_plug_into_spare_root_ports(state, tmp_path):
    """q35 gets a PCIe root port per declared disk and NIC plus four spare
    ones; devices added live go into the free ones until none is left."""
    name = f"{NAME}-q35"
    xml = tmp_path / "q35.xml"
    xml.write_text(state["xml"].read_text().replace(f"<name>{NAME}</name>", f"<name>{name}</name>")
                   .replace("machine='pc'", "machine='q35'"))
    st = dict(state, dir=state["dir"].parent / name)
    qv(st, "vm", "create", "--xml", str(xml))
    try:
        qv(st, "vm", "start", name)
        wait_for(lambda: "net=" in devs(st), BOOT_TIMEOUT, "the q35 guest's first QV-DEVS line")
        ports = [p["name"] for p in qmp(st, "qom-list", {"path": "/machine/peripheral"})
                 if p["type"] == "child<pcie-root-port>"]
        assert sorted(ports) == [f"qvport{i}" for i in range(5)], ports  # the NIC's + 4
        disks = []
        for i in range(3):
            disks.append(tmp_path / f"q{i}.raw")
            with open(disks[-1], "wb") as f:
                f.truncate(8 << 20)
        nets_before = devs(st).split("net=")[1]
        qv(st, "vm", "disk-add", name, "--path", str(disks[0]), "--target", "vdb")
        wait_for(lambda: "blk=vda," in devs(st), 60, "the q35 guest to see the disk")
        qv(st, "vm", "nic-add", name, "--network", "user", "--mac", "52:54:00:12:35:01")
        wait_for(lambda: devs(st).split("net=")[1].count(",") == nets_before.count(",") + 1, 60,
                 "the q35 guest to see the NIC")
        qv(st, "vm", "disk-add", name, "--path", str(disks[1]), "--target", "vdc")
        qv(st, "vm", "disk-add", name, "--path", str(disks[2]), "--target", "vdd")
        wait_for(lambda: blks(st) == 3, 60, "the q35 guest to see three disks")
        # The four spare ports are taken: the fifth device is refused and
        # leaves nothing behind.
        extra = tmp_path / "extra.raw"
        extra.write_bytes(b"\0" * 4096)
        p = qv(st, "vm", "disk-add", name, "--path", str(extra), "--target", "vde", check=False)
        assert p.returncode != 0 and "no free PCIe root port" in p.stderr, p.stdout + p.stderr
        assert "vde" not in qv(st, "vm", "show", name, "--xml").stdout
        assert "hp-vde" not in json.dumps(qmp(st, "query-named-block-nodes"))
        # Removing one frees its port for the next. (The guest names its
        # disks in the order it finds them, not by target.)
        qv(st, "vm", "disk-remove", name, "--target", "vdc", timeout=90)
        wait_for(lambda: blks(st) == 2, 30, "the disk to leave the q35 guest")
        qv(st, "vm", "disk-add", name, "--path", str(extra), "--target", "vde")
        wait_for(lambda: blks(st) == 3, 60, "the q35 guest to see vde")
        qv(st, "vm", "nic-remove", name, "--mac", "52:54:00:12:35:01", timeout=90)
        wait_for(lambda: devs(st).split("net=")[1] == nets_before, 30, "the NIC to leave")
        # The NIC the VM was defined with sits on a root port of its own:
        # it can go too.
        mac = [l for l in qv(st, "vm", "show", name, "--xml").stdout.splitlines()
               if "mac address" in l][0].split('"')[1]
        qv(st, "vm", "nic-remove", name, "--mac", mac, timeout=90)
        wait_for(lambda: devs(st).split("net=")[1].startswith("lo, "), 30, "the boot NIC to leave")
    finally:
        qv(st, "vm", "destroy", name, check=False)


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


def tick_numbers(state):
    return [int(l.split()[1]) for l in console(state).splitlines()
            if l.startswith("QV-TICK ") and l.split()[1:2] and l.split()[1].isdigit()]


def run_on_pty(state, *args, timeout=120):
    """qv with standard error on a terminal: its exit code, standard output
    and what the terminal received."""
    master, slave = pty.openpty()
    p = subprocess.Popen([QV, "-c", state["uri"], *args], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    got = b""
    try:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: qv closed its end
                break
            if not chunk:
                break
            got += chunk
        out, _ = p.communicate(timeout=timeout)
    finally:
        os.close(master)
    return p.returncode, out.decode(), got.decode(errors="replace")


def test_snapshot_restores_memory_and_shows_progress(state, tmp_path):
    """A memory snapshot of the running guest (QEMU's snapshot-save job, on a
    hot-plugged qcow2 disk's node) brings its memory back: its tick counter
    goes back to where it was saved. On a terminal the CLI shows the job's
    progress on standard error and erases it; elsewhere nothing."""
    disk = tmp_path / "snap.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    qv(state, "vm", "disk-add", NAME, "--path", str(disk), "--target", "vdb")
    wait_for(lambda: "blk=vda," in devs(state), 60, "the guest to see the qcow2 disk")
    rc, out, tty = run_on_pty(state, "vm", "snapshot", "create", NAME, "--name", "mem")
    assert rc == 0, tty
    assert out == f"Snapshot 'mem' of VM '{NAME}' created.\n"
    # QEMU 7.2 reports the job's total only once it has concluded.
    assert f"\rSaving snapshot 'mem' of VM '{NAME}': 100%, " in tty, repr(tty)
    assert tty.endswith("\r\x1b[K"), repr(tty)
    at = max(tick_numbers(state))  # at least the count the snapshot holds
    wait_for(lambda: max(tick_numbers(state)) >= at + 4, 60, "ticks after the snapshot")
    seen = len(tick_numbers(state))
    p = qv(state, "vm", "snapshot", "restore", NAME, "--name", "mem")
    assert p.stdout == f"Snapshot 'mem' of VM '{NAME}' restored.\n" and p.stderr == "", p
    assert state_line(state) == "running"
    wait_for(lambda: len(tick_numbers(state)) > seen, 60, "a tick after the restore")
    assert tick_numbers(state)[seen] <= at + 1, (at, tick_numbers(state)[seen - 3:])
    p = qv(state, "vm", "snapshot", "delete", NAME, "--name", "mem")
    assert p.stderr == "", p

    # qv killed while its snapshot-save job runs (when it first draws the
    # progress line): the next qv finds the snapshot whole or not at all,
    # its records equal the disk's tags, and snapshots work on.
    master, slave = pty.openpty()
    p = subprocess.Popen([QV, "-c", state["uri"], "vm", "snapshot", "create", NAME, "--name",
                          "killed"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=slave)
    os.close(slave)
    try:
        assert os.read(master, 100).startswith(b"\rSaving snapshot 'killed'")
        p.kill()
        p.wait(timeout=30)
    finally:
        os.close(master)
    names = [l.split()[0] for l in qv(state, "vm", "snapshot", "list", NAME).stdout.splitlines()[1:]]
    assert names in ([], ["killed"]), names
    tags = subprocess.run(["qemu-img", "snapshot", "-U", "-l", str(disk)], capture_output=True,
                          text=True, check=True).stdout
    assert ("killed" in tags) == (names == ["killed"]), (names, tags)
    qv(state, "vm", "snapshot", "create", NAME, "--name", "after")
    qv(state, "vm", "snapshot", "delete", NAME, "--name", "after")
    if names:
        qv(state, "vm", "snapshot", "delete", NAME, "--name", "killed")
    assert qv(state, "vm", "snapshot", "list", NAME).stdout.splitlines()[1:] == []
    qv(state, "vm", "disk-remove", NAME, "--target", "vdb", timeout=90)
    wait_for(lambda: "vda" not in devs(state), 30, "the disk to leave the guest")


def test_vcpu_hot_add_and_remove(state):
    wait_for(lambda: "cpus=0\n" in devs(state) + "\n" or devs(state).endswith("cpus=0"), 30,
             "the guest to have one vCPU")
    qv(state, "vm", "set", NAME, "--vcpus", "2")
    wait_for(lambda: devs(state).endswith("cpus=0-1"), 60, "the guest to see vCPU 1")
    xml = qv(state, "vm", "show", NAME, "--xml").stdout
    assert ">2</vcpu>" in xml and 'current="1"' not in xml, xml
    # Removal needs the guest's consent, which under TCG on a loaded host
    # can take longer than the default 20 s: give it 50 s. Should it
    # still not come, the user is told the truth and nothing changes.
    os.environ["QV_QEMU_UNPLUG_TIMEOUT_MS"] = "50000"
    try:
        p = qv(state, "vm", "set", NAME, "--vcpus", "1", check=False, timeout=120)
    finally:
        del os.environ["QV_QEMU_UNPLUG_TIMEOUT_MS"]
    if p.returncode == 0:
        wait_for(lambda: devs(state).endswith("cpus=0"), 30, "vCPU 1 to leave the guest")
        assert 'current="1"' in qv(state, "vm", "show", NAME, "--xml").stdout
    else:
        assert "did not release vCPU 1" in p.stderr and "stays attached" in p.stderr, p.stderr
        assert 'current="1"' not in qv(state, "vm", "show", NAME, "--xml").stdout


def test_graceful_stop_uses_power_button(state):
    t0 = time.monotonic()
    qv(state, "vm", "stop", NAME, "--timeout", "60", timeout=90)
    took = time.monotonic() - t0
    assert state_line(state) == "stopped (user)"
    assert "QV-GUEST: power button pressed" in console(state)
    log = (state["dir"] / "qv.log").read_text()
    assert "sending system_powerdown" in log
    assert "guest powered off after" in log, log
    assert "SIGKILL" not in log
    assert took < 60


def test_sigkill_is_reported_crashed(state):
    qv(state, "vm", "start", NAME)
    wait_booted(state, 2)
    pid = json.loads((state["dir"] / "runtime.json").read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: state_line(state) == "stopped (crashed)", 20, "state 'stopped (crashed)'")
    assert not (state["dir"] / "qmp.sock").exists()
    assert not (state["dir"] / "runtime.json").exists()


def test_restart_after_crash(state):
    qv(state, "vm", "start", NAME)
    assert state_line(state) == "running"
    wait_booted(state, 3)
    qv(state, "vm", "stop", NAME, "--force")
    assert state_line(state) == "stopped (user)"
    qv(state, "vm", "destroy", NAME)
    assert not state["dir"].exists()


def test_guest_poweroff_is_reported_shutdown(state):
    name = f"{NAME}-2"
    qv(state, "vm", "create", "--xml", str(state["xml2"]))
    qv(state, "vm", "start", name)
    pid = json.loads((state["dir"].parent / name / "runtime.json").read_text())["pid"]

    def stopped():
        out = qv(state, "vm", "show", name).stdout
        return "State:        stopped (shutdown)" in out

    wait_for(stopped, BOOT_TIMEOUT, f"{name} to power itself off")
    log = (state["dir"].parent / name / "console.log").read_text(errors="replace")
    assert "QV-GUEST: powering off by itself" in log
    # QEMU (kept alive by -no-shutdown) has been quit.
    wait_for(lambda: not Path(f"/proc/{pid}").exists() or
             Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z", 10,
             "QEMU to exit")
    qv(state, "vm", "destroy", name)


def test_console_ends_when_the_guest_powers_off(state, tmp_path):
    # QEMU runs with -no-shutdown, so its pty stays open after the guest
    # powers off; `qv vm console` must still end then, by itself, with the
    # guest's last words printed.
    name = f"{NAME}-3"
    xml = tmp_path / "guest3.xml"
    xml.write_text(state["xml2"].read_text().replace(f"<name>{NAME}-2</name>",
                                                     f"<name>{name}</name>"))
    qv(state, "vm", "create", "--xml", str(xml))
    qv(state, "vm", "start", name)
    try:
        p = subprocess.run([QV, "-c", state["uri"], "vm", "console", name],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=BOOT_TIMEOUT + 30)
        assert p.returncode == 0, p
        assert b"QV-GUEST: powering off by itself" in p.stdout, p.stdout[-400:]
        assert "State:        stopped (shutdown)" in qv(state, "vm", "show", name).stdout
    finally:
        qv(state, "vm", "destroy", name, check=False)


def test_vm_run_ends_when_the_linux_guest_powers_off(state):
    # `qv vm run --kernel` gives the guest ACPI, as `qemu -kernel` does, so
    # a Linux guest's poweroff ends the run (without it the kernel can only
    # halt, and the run never ends). TCG, chosen with --virt-type: where
    # /dev/kvm is software nested virtualization, Linux does not boot in
    # useful time under KVM, which --kernel would otherwise choose.
    guest = Path(subprocess.run([str(SRC / "tests/fixtures/build-guest.sh")], capture_output=True,
                                text=True, timeout=600).stdout.strip())
    p = subprocess.run([QV, "-c", state["uri"], "vm", "run", "--kernel", str(guest / "vmlinuz"),
                        "--initrd", str(guest / "initrd.img"), "--append",
                        "console=ttyS0 quiet panic=-1 qv.poweroff_after=2", "--memory", "256M",
                        "--virt-type", "qemu"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=BOOT_TIMEOUT + 60)
    assert p.returncode == 0, p
    assert b"QV-GUEST: powering off by itself" in p.stdout, p.stdout[-400:]


OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")


def test_uefi_boots_with_per_vm_nvram(state, tmp_path):
    if not OVMF_CODE.exists() or not OVMF_VARS.exists():
        pytest.skip(f"{OVMF_CODE} or {OVMF_VARS} missing (package ovmf)")
    name = f"{NAME}-uefi"
    nvram = tmp_path / "uefi_VARS.fd"
    xml = tmp_path / "uefi.xml"
    xml.write_text(f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <loader readonly='yes' type='pflash'>{OVMF_CODE}</loader>
    <nvram template='{OVMF_VARS}'>{nvram}</nvram>
  </os>
  <features><acpi/></features>
</domain>
""")
    qv(state, "vm", "create", "--xml", str(xml))
    try:
        assert not nvram.exists()
        qv(state, "vm", "start", name)
        # The VM's own copy of the variable store, private to its owner.
        assert nvram.read_bytes() == OVMF_VARS.read_bytes()
        assert nvram.stat().st_mode & 0o777 == 0o600
        log = state["dir"].parent / name / "console.log"
        wait_for(lambda: log.exists() and "UEFI Interactive Shell" in
                 log.read_text(errors="replace"), BOOT_TIMEOUT, "OVMF to reach its shell")
    finally:
        qv(state, "vm", "destroy", name, check=False)
