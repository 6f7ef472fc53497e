"""Guest payloads drive the kvm driver's virtio-mmio devices with their
own minimal driver (tests/guests/virtio_guest.h), under `qv vm run` on
kvm:///embed, and the host side is checked: what the disk image holds
after the guest wrote and flushed, a read-only disk left untouched, the
disk's <serial> as the guest reads it, entropy the guest received, a
line answered on hvc0, a TCP connection from the guest arriving at a
listener of the test's. Where QEMU has the same device (virtio-blk and
virtio-net on its microvm machine), the payload is run there too."""
import os
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest

CLI = os.environ.get("QV_CLI")
GUESTS = os.path.join(os.environ.get("QV_BUILD_DIR", "."), "tests", "guests")

pytestmark = [
    pytest.mark.skipif(not os.access("/dev/kvm", os.R_OK | os.W_OK),
                       reason="/dev/kvm is missing or not accessible"),
    pytest.mark.skipif(not CLI, reason="QV_CLI is not set"),
]


def run(tmp_path, payload, devices):
    kernel = os.path.join(GUESTS, payload + ".elf")
    if not os.path.isfile(kernel):
        pytest.skip(f"{kernel} was not built (the guest payloads need nasm and ld)")
    xml = tmp_path / (payload + ".xml")
    xml.write_text(f"""<domain type='kvm'><name>{payload}</name>
  <memory unit='MiB'>32</memory><vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type><kernel>{kernel}</kernel></os>
  <devices>{devices}<serial type='stdio'><target port='0'/></serial></devices>
</domain>""")
    p = subprocess.run([CLI, "-c", f"kvm:///embed?root={tmp_path}/state", "vm", "run", "--xml",
                        str(xml)], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=120)
    # guest_main's 0 through isa-debug-exit: (0 << 1) | 1 (qv's own errors
    # are 1 too, but print no guest output).
    assert p.returncode == 1, p
    return p.stdout


def disk(image, extra=""):
    return (f"<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
            f"<source file='{image}'/><target dev='vda' bus='virtio'/>{extra}</disk>")


def pattern():
    """What vblk.c writes at sector 8."""
    b = bytearray((i * 7 + i // 512) & 0xff for i in range(4096))
    tag = b"qv-vblk pattern"
    b[:len(tag)] = tag
    return bytes(b)


def test_vblk_writes_flushes_and_reads_back(tmp_path):
    image = tmp_path / "disk.raw"
    image.write_bytes(b"\0" * (1 << 20))
    out = run(tmp_path, "vblk", disk(image, "<serial>QV-SERIAL-42</serial>"))
    assert "vblk: capacity 2048 sectors" in out, out
    assert "vblk: id 'QV-SERIAL-42'" in out, out
    for step in ("get-id", "write", "flush", "read"):
        assert f"vblk: {step} status 0\n" in out, out
    assert "vblk: read back what was written" in out, out
    # Sector 2048 of a 2048-sector disk: refused with IOERR, not read.
    assert out.endswith("vblk: read past the end status 1\nvblk: done\n"), out
    data = image.read_bytes()
    assert data[4096:8192] == pattern()
    assert data[:4096] == b"\0" * 4096 and data[8192:] == b"\0" * (len(data) - 8192)


def test_vblk_sees_what_it_sees_on_qemu_microvm(tmp_path):
    """The same payload against QEMU's own virtio-blk on its microvm
    machine (virtio-mmio, modern; TCG): the same console, the same image."""
    why = qemu_microvm_why_not()
    if why:
        pytest.skip(why)
    ours_img, qemu_img = tmp_path / "ours.raw", tmp_path / "qemu.raw"
    for f in (ours_img, qemu_img):
        f.write_bytes(b"\0" * (1 << 20))
    ours = run(tmp_path, "vblk", disk(ours_img, "<serial>QV-SERIAL-42</serial>"))
    p = subprocess.run(["qemu-system-x86_64", "-M", "microvm", "-accel", "tcg", "-global",
                        "virtio-mmio.force-legacy=false", "-kernel",
                        os.path.join(GUESTS, "vblk.elf"), "-serial", "stdio", "-display", "none",
                        "-nodefaults", "-no-reboot", "-m", "32", "-device",
                        "isa-debug-exit,iobase=0xf4,iosize=0x4", "-drive",
                        f"id=d0,file={qemu_img},format=raw,if=none", "-device",
                        "virtio-blk-device,drive=d0,serial=QV-SERIAL-42"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert p.stdout == ours, (p.stdout, p.stderr)
    assert qemu_img.read_bytes() == ours_img.read_bytes()


def test_vblk_readonly_disk_refuses_the_write(tmp_path):
    image = tmp_path / "ro.raw"
    image.write_bytes(b"\0" * (1 << 20))
    out = run(tmp_path, "vblk", disk(image, "<readonly/>"))
    assert "vblk: write status 1\n" in out, out  # VIRTIO_BLK_S_IOERR
    assert "vblk: read status 0\n" in out, out
    assert "vblk: read back differs at byte 0" in out, out
    assert image.read_bytes() == b"\0" * (1 << 20)


def test_vrng_gives_the_guest_random_bytes(tmp_path):
    rng = "<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>"
    rounds = []
    for _ in range(2):
        out = run(tmp_path, "vrng", rng)
        got = re.findall(r"^vrng: 64 bytes ([0-9a-f]{128})$", out, re.M)
        assert len(got) == 2, out
        rounds += got
    assert len(set(rounds)) == 4, rounds
    for r in rounds:
        assert len(set(bytes.fromhex(r))) > 16, r


def test_vcon_answers_a_line_on_hvc0(tmp_path):
    kernel = os.path.join(GUESTS, "vcon.elf")
    if not os.path.isfile(kernel):
        pytest.skip(f"{kernel} was not built (the guest payloads need nasm and ld)")
    sock = tmp_path / "hvc0.sock"
    xml = tmp_path / "vcon.xml"
    xml.write_text(f"""<domain type='kvm'><name>vcon</name>
  <memory unit='MiB'>32</memory><vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type><kernel>{kernel}</kernel></os>
  <devices><serial type='stdio'><target port='0'/></serial>
    <console type='unix'><source mode='bind' path='{sock}'/><target type='virtio' port='0'/></console>
  </devices>
</domain>""")
    p = subprocess.Popen([CLI, "-c", f"kvm:///embed?root={tmp_path}/state", "vm", "run", "--xml",
                          str(xml)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        with socket.socket(socket.AF_UNIX) as s:
            while True:
                try:
                    s.connect(str(sock))
                    break
                except OSError:
                    assert time.monotonic() < deadline and p.poll() is None, p.communicate()
                    time.sleep(0.05)
            # Split, so the guest's driver must join what the device gives it.
            s.sendall(b"pi")
            time.sleep(0.1)
            s.sendall(b"ng over hvc\n")
            s.settimeout(30)
            got = b""
            while b"\n" not in got:
                chunk = s.recv(256)
                if not chunk:
                    break
                got += chunk
        assert got == b"vcon: got 'PING OVER HVC'\n", got
        out, err = p.communicate(timeout=60)
        assert p.returncode == 1, (out, err)
        assert "vcon: answered on hvc0" in out, out
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()


@pytest.mark.parametrize("console,says", [
    ("<console type='stdio'><target type='virtio'/></console>", "stdio is the serial port's"),
    ("<console type='null'><target type='virtio' port='1'/></console>", "virtio console 0 is port 0"),
    ("<console type='pty'><target type='virtio'/></console>", "would be reported nowhere"),
])
def test_virtio_console_it_cannot_carry_is_refused(tmp_path, console, says):
    xml = tmp_path / "bad.xml"
    xml.write_text(f"""<domain type='kvm'><name>bad</name>
  <memory unit='MiB'>32</memory><vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type><kernel>/dev/null</kernel></os>
  <devices>{console}</devices>
</domain>""")
    p = subprocess.run([CLI, "-c", f"kvm:///embed?root={tmp_path}/state", "vm", "create", "--xml",
                        str(xml)], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and says in p.stderr, p


def qemu_microvm_why_not():
    """Why QEMU's microvm machine cannot run the payloads here, or None."""
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        return "qemu-system-x86_64 is not installed"
    p = subprocess.run([qemu, "-M", "help"], capture_output=True, text=True, timeout=60)
    if not re.search(r"^microvm\b", p.stdout, re.M):
        return "this QEMU has no microvm machine"
    return None


def listen_once():
    """A listener on a free port of 127.0.0.1, and a thread that collects
    what its one connection sends."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(120)
    got = {}

    def serve():
        try:
            c, _ = srv.accept()
            with c:
                c.settimeout(60)
                data = b""
                while True:
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                got["data"] = data
        except OSError as e:
            got["error"] = e
        finally:
            srv.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return srv.getsockname()[1], t, got


VNET_OUT = ("vnet: dhcp gave 10.0.2.15\nvnet: gateway answered ARP\nvnet: connected\n"
            "vnet: sent and acknowledged\n")


def test_vnet_dhcp_and_a_tcp_connection_through_the_user_network(tmp_path):
    """DHCP from libslirp, ARP for the gateway, and a TCP connection from
    the guest to 10.0.2.2:PORT, which arrives at the test's listener on
    the host's 127.0.0.1:PORT with what the guest sent."""
    kernel = os.path.join(GUESTS, "vnet.elf")
    if not os.path.isfile(kernel):
        pytest.skip(f"{kernel} was not built (the guest payloads need nasm and ld)")
    port, t, got = listen_once()
    xml = tmp_path / "vnet.xml"
    xml.write_text(f"""<domain type='kvm'><name>vnet</name>
  <memory unit='MiB'>32</memory><vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type><kernel>{kernel}</kernel><cmdline>port={port}</cmdline></os>
  <devices><interface type='user'><mac address='52:54:00:12:34:56'/><model type='virtio'/></interface>
    <serial type='stdio'><target port='0'/></serial></devices>
</domain>""")
    p = subprocess.run([CLI, "-c", f"kvm:///embed?root={tmp_path}/state", "vm", "run", "--xml",
                        str(xml)], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=120)
    t.join(60)
    assert p.returncode == 1 and p.stdout == VNET_OUT, p
    assert got.get("data") == b"vnet: hello over virtio-net\n", got


def test_vnet_does_the_same_on_qemu_microvm(tmp_path):
    """The same payload on QEMU's virtio-net and user network (microvm,
    TCG): the reference the payload itself is checked against."""
    why = qemu_microvm_why_not()
    if why:
        pytest.skip(why)
    port, t, got = listen_once()
    p = subprocess.run(["qemu-system-x86_64", "-M", "microvm", "-accel", "tcg", "-global",
                        "virtio-mmio.force-legacy=false", "-kernel",
                        os.path.join(GUESTS, "vnet.elf"), "-append", f"port={port}", "-serial",
                        "stdio", "-display", "none", "-nodefaults", "-no-reboot", "-m", "32",
                        "-device", "isa-debug-exit,iobase=0xf4,iosize=0x4", "-netdev",
                        "user,id=n0", "-device",
                        "virtio-net-device,netdev=n0,mac=52:54:00:12:34:56"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    t.join(60)
    assert p.stdout == VNET_OUT, p
    assert got.get("data") == b"vnet: hello over virtio-net\n", got
