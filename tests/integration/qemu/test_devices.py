"""Devices whose backend runs beside QEMU: a virtiofs share a real Linux
guest under TCG (tests/fixtures/build-guest.sh) mounts and reads, served
by a virtiofsd qv starts and stops with the VM; a SPICE server listening
where `vm show` says."""
import os
import re
import shutil
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

SRC = Path(os.environ.get("QV_SOURCE_DIR", Path(__file__).resolve().parents[3]))
QV = os.environ.get("QV_CLI")
BOOT_TIMEOUT = 180
VIRTIOFSD = Path("/usr/lib/qemu/virtiofsd")


def qv(uri, *args, check=True):
    p = subprocess.run([QV, "-c", uri, *args], capture_output=True, text=True, timeout=120)
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


@pytest.fixture(scope="module")
def guest():
    if not QV:
        pytest.fail("QV_CLI is not set (run through ctest)")
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu-system-x86_64 is not installed")
    built = subprocess.run([str(SRC / "tests/fixtures/build-guest.sh")], capture_output=True,
                           text=True, timeout=600)
    assert built.returncode == 0, f"guest fixture: {built.stderr}"
    return Path(built.stdout.strip())


def daemons(sock):
    """virtiofsd processes serving sock."""
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"--socket-path={sock}".encode() in cmd:
            out.append(int(p.name))
    return out


def test_virtiofs_share_is_mounted_and_read_by_the_guest(guest, tmp_path):
    if not VIRTIOFSD.exists():
        pytest.skip(f"{VIRTIOFSD} is missing (Debian package qemu-system-common)")
    root = tmp_path / "state"
    uri = f"qemu:///session?root={root}"
    share = tmp_path / "share"
    share.mkdir()
    (share / "qv-virtiofs.txt").write_text("hello from the host\n")
    name = "h-virtiofs"
    xml = tmp_path / "vfs.xml"
    body = f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{guest}/vmlinuz</kernel>
    <initrd>{guest}/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 qv.virtiofs=hostshare</cmdline>
  </os>
  <devices>
    <filesystem type='mount' accessmode='passthrough'>
      <driver type='virtiofs' queue='1024'/>
      <binary path='{VIRTIOFSD}' xattr='on'><cache mode='always'/><sandbox mode='chroot'/>
        <lock posix='on' flock='on'/><thread_pool size='4'/></binary>
      <source dir='{share}'/>
      <target dir='hostshare'/>
    </filesystem>
  </devices>
</domain>
"""
    # Without shared guest memory virtiofsd cannot map the guest's RAM.
    xml.write_text(body.replace("<memoryBacking><source type='memfd'/><access mode='shared'/>"
                                "</memoryBacking>", ""))
    p = qv(uri, "vm", "create", "--xml", str(xml), check=False)
    assert p.returncode != 0
    assert "<memoryBacking><source type='memfd'/><access mode='shared'/>" in p.stderr, p.stderr
    assert "<filesystem> (line 13)" in p.stderr, p.stderr
    xml.write_text(body)
    qv(uri, "vm", "create", "--xml", str(xml))
    vmdir = root / "qemu" / name
    try:
        qv(uri, "vm", "start", name)
        log = vmdir / "console.log"
        # The whole line: a read can catch the guest half-way through it.
        wait_for(lambda: log.exists() and re.search(r"QV-VIRTIOFS[^\n]*\n",
                                                    log.read_text(errors="replace")),
                 BOOT_TIMEOUT, "the guest to mount the virtiofs share")
        assert "QV-VIRTIOFS hello from the host" in log.read_text(errors="replace")
        socks = list(vmdir.glob("virtiofs*.sock"))
        assert len(socks) == 1
        assert stat.S_IMODE(socks[0].stat().st_mode) & 0o077 == 0
        pids = daemons(socks[0])
        assert pids, "no virtiofsd runs for the share"
        assert "virtiofs hostshare: virtiofsd running" in qv(uri, "vm", "show", name).stdout
        # A virtiofsd that dies is reported while the VM runs.
        for pid in pids:
            os.kill(pid, 9)
        wait_for(lambda: not daemons(socks[0]), 10, "virtiofsd to die")
        shown = qv(uri, "vm", "show", name).stdout
        assert "virtiofsd is NOT running" in shown, shown
        # A restart starts a new one, and it stops with the VM.
        qv(uri, "vm", "stop", "--force", name)
        qv(uri, "vm", "start", name)
        pids = daemons(socks[0])
        assert pids
        qv(uri, "vm", "stop", "--force", name)
        wait_for(lambda: not daemons(socks[0]), 10, "virtiofsd to stop with the VM")
    finally:
        qv(uri, "vm", "destroy", name, check=False)


def test_spice_server_listens_where_vm_show_says(tmp_path):
    if not QV:
        pytest.fail("QV_CLI is not set (run through ctest)")
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu-system-x86_64 is not installed")
    probe = subprocess.run(["qemu-system-x86_64", "-spice", "help"], capture_output=True,
                           text=True)
    if probe.returncode != 0:
        pytest.skip(f"this QEMU has no SPICE: {probe.stderr.strip()}")
    root = tmp_path / "state"
    uri = f"qemu:///session?root={root}"
    name = "h-spice"
    xml = tmp_path / "spice.xml"
    xml.write_text(f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <controller type='usb' model='qemu-xhci'/>
    <graphics type='spice' autoport='yes'><listen type='address' address='127.0.0.1'/>
      <image compression='off'/></graphics>
    <channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/></channel>
    <redirdev bus='usb' type='spicevmc'/>
  </devices>
</domain>
""")
    qv(uri, "vm", "create", "--xml", str(xml))
    try:
        qv(uri, "vm", "start", name)
        shown = qv(uri, "vm", "show", name).stdout
        line = next((l for l in shown.splitlines() if l.strip().startswith("SPICE:")), None)
        assert line, shown
        host, port = line.split()[1].rsplit(":", 1)
        assert host == "127.0.0.1"
        # A SPICE server answers there: it sends nothing first, but accepts.
        with socket.create_connection((host, int(port)), timeout=5):
            pass
    finally:
        qv(uri, "vm", "destroy", name, check=False)
