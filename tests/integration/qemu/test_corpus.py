"""Documents exactly as libvirt's `virsh dumpxml` writes them
(tests/data/xml/libvirt) and as `virt-install --print-xml` writes them
(tests/data/xml/virtinst) define on the qemu driver and start under TCG,
with what they say on QEMU's command line. A few only: each start costs
seconds."""
import json
import os
import re
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

SRC = Path(os.environ.get("QV_SOURCE_DIR", Path(__file__).resolve().parents[3]))
QV = os.environ.get("QV_CLI")
CORPUS = SRC / "tests/data/xml/libvirt"
DATA = SRC / "tests/data/xml"

# document -> arguments its elements must have become
CASES = {
    "minimal": ["-rtc base=utc", "-device piix3-usb-uhci,id=usb,bus=pci.0,addr=0x1.0x2",
                "-device virtio-balloon-pci,id=balloon0,bus=pci.0,addr=0x2"],
    "q35-minimal": ["-device pcie-root-port,port=0x8,chassis=1,id=pci.1,bus=pcie.0,addr=0x1,"
                    "multifunction=on",
                    "-device qemu-xhci,id=usb,bus=pci.1,addr=0x0"],
    "clock-utc-timers": ["-no-hpet", "-rtc base=utc,driftfix=slew"],
    "features": ["-machine pc-i440fx-7.2 "],
    "os-sysinfo": ["-boot order=c,menu=on,splash-time=3000,reboot-timeout=0", "-device sga",
                   "-smbios type=0,vendor=QV,release=1.2",
                   "-smbios type=1,manufacturer=Example,, Inc,product=qv-corpus",
                   "-smbios type=2,asset=A1", "-smbios type=3,sku=S1",
                   "-smbios type=11,value=myapp:some data",
                   "-fw_cfg name=opt/com.example/name,string=example value"],
    "memory-backing": ["memory-backend=ram0,mem-merge=off",
                       "-object memory-backend-memfd,id=ram0,size=131072K,share=on,prealloc=on,"
                       "prealloc-threads=2"],
    # Two guest NUMA nodes with their distances.
    "numa-cells": ["-object memory-backend-ram,id=ram-node0,size=131072K ",
                   "-numa node,nodeid=0,cpus=0-1,memdev=ram-node0",
                   "-object memory-backend-ram,id=ram-node1,size=131072K,share=on",
                   "-numa node,nodeid=1,cpus=2-3,memdev=ram-node1",
                   "-numa dist,src=0,dst=1,val=21"],
    # DIMMs at start, NUMA and slots for more; a disk in an IOThread.
    "memory-hotplug": ["-m size=128M,slots=4,maxmem=1048576K",
                       "-object memory-backend-ram,id=memdimm0,size=131072K",
                       "-device pc-dimm,memdev=memdimm0,id=dimm0,node=0,slot=0"],
    "disk-iothread": ["-object iothread,id=iothread2", ",iothread=iothread2"],
    "iothreads": ["-object iothread,id=iothread1 ",
                  "-object iothread,id=iothread2,thread-pool-min=1,thread-pool-max=4"],
    "features-machine": ["-machine pc-q35-7.2,vmport=off,smm=on ", "-cpu qemu64,kvm=off,pmu=off",
                         "-global mch.extended-tseg-mbytes=48", "-device vmcoreinfo"],
    "lifecycle-pm": ["-no-reboot", "-global PIIX4_PM.disable_s3=1",
                     "-global PIIX4_PM.disable_s4=1"],
    # virt-install's q35 guest: 14 root ports without index=, the guest
    # agent channel on a virtio-serial bus, network 'default' as user-mode.
    "virtinst/debian11": ["-device pcie-root-port,port=0x8,chassis=1,id=pci.1",
                          "-device pcie-root-port,port=0x15,chassis=14,id=pci.14",
                          "-device qemu-xhci,id=usb,p2=15,p3=15",
                          "-device virtserialport,bus=virtio-serial0.0,nr=1,chardev=charchannel0,"
                          "id=channel0,name=org.qemu.guest_agent.0",
                          "-netdev user,id=net0"],
    # virt-install's pc guest: the ICH9 EHCI with its three UHCI companions.
    "virtinst/generic": ["-device ich9-usb-ehci1,id=usb",
                         "-device ich9-usb-uhci3,masterbus=usb.0,firstport=4"],
    # The guest agent's channel at the virtio-serial port libvirt gave it.
    "channel-agent": ["-device virtio-serial-pci,id=virtio-serial0,bus=pci.2,addr=0x0",
                      "-device virtserialport,bus=virtio-serial0.0,nr=1,chardev=charchannel0,"
                      "id=channel0,name=org.qemu.guest_agent.0"],
    # Two COM ports, the first the console.
    "serial-ports": ["-serial chardev:serial0", "-chardev null,id=serial1",
                     "-device isa-serial,chardev=serial1,id=serial1,index=1"],
    "watchdog-pc": ["-device i6300esb,bus=pci.0,addr=0x3", "-action watchdog=poweroff"],
    "sound-hda": ["-audiodev none,id=audio1", ",bus=pcie.0,addr=0x1b",
                  "-device hda-micro,", ",bus=sound8.0,cad=0,audiodev=audio1"],
    # The <audio type='file'> writes where the document says (rewritten below).
    "sound-pc": ["-device AC97,", "-device ES1370,", "-audiodev wav,id=audio1,path="],
    "bus-controllers": ["-device virtio-serial-pci,id=virtio-serial0,max_ports=16,vectors=4,",
                        "-device lsi53c895a,id=scsi0,", "-device virtio-scsi-pci,id=scsi1,num_queues=2,"],
    # swtpm runs beside QEMU (checked below).
    "tpm-emulator": ["-tpmdev emulator,id=tpm0,chardev=chrtpm", "-device tpm-crb,tpmdev=tpm0,id=tpm0"],
    "vnc-video": ["-device VGA,id=video0,vgamem_mb=16,bus=pcie.0,addr=0x1",
                  "-device usb-tablet,bus=usb.0,port=1", "-vnc"],
    # Disks and NICs at the <address> libvirt gave them.
    "pc-virtio-disk": ["-device virtio-blk-pci,bus=pci.0,addr=0x3,drive=disk0,id=vda,",
                       "-device ide-cd,bus=ide.1,unit=0,drive=disk1,id=hdc",
                       "-device e1000,netdev=net0,id=nic0,mac=52:54:00:4d:a0:87,bus=pci.0,"
                       "addr=0x2"],
    "q35-sata": ["-device ide-hd,bus=ide.0,drive=disk0,id=sda,", "-device ide-cd,bus=ide.1,id=sdb",
                 "-device virtio-net-pci,netdev=net0,id=nic0,mac=52:54:00:e8:28:af,bus=pci.1,"
                 "addr=0x0"],
    # virtiofsd runs beside QEMU (tests/integration/qemu/test_devices.py
    # has the guest mount it).
    "filesystem-virtiofs": ["-chardev socket,id=chr-vu-fs", "vhost-user-fs-pci,id=fs",
                            ",tag=corpus,queue-size=1024,bus=pci.1,addr=0x0"],
    # SPICE with its agent channel, USB redirection and audio, on QXL.
    "spice-qxl": ["-spice port=", ",addr=127.0.0.1,disable-ticketing=on,image-compression=auto_glz,"
                  "jpeg-wan-compression=auto,zlib-glz-wan-compression=auto,streaming-video=filter,"
                  "playback-compression=on,disable-copy-paste=on,disable-agent-file-xfer=on,"
                  "agent-mouse=on,gl=off,plaintext-channel=main",
                  "-device qxl-vga,id=video0,ram_size=67108864,vram_size=67108864,vgamem_mb=16,"
                  "max_outputs=1,bus=pcie.0,addr=0x1",
                  "-chardev spicevmc,id=charchannel0,name=vdagent", "name=com.redhat.spice.0",
                  "name=usbredir", "-audiodev spice,id=audio1"],
    "spice-nolisten": ["-spice port=0,disable-ticketing=on"],
    # OVMF's secure boot: SMM-protected flash on q35 (TCG emulates SMM).
    "secure-boot": ["-global driver=cfi.pflash01,property=secure,value=on", ",smm=on"],
    "smartcard-passthrough": ["-device usb-ccid,id=ccid0,bus=usb.0", "-device ccid-card-passthru,"
                              "chardev=charsmartcard", ",bus=ccid0.0"],
    # An SR-IOV VF this host does not have: the start names it (below).
    "interface-hostdev": [],
    "pc-ide": ["-device ide-hd,bus=ide.0,unit=0,drive=disk0,id=hda,",
               "-device ide-cd,bus=ide.1,unit=0,drive=disk1,id=hdc"],
}
# The generator's image directory; each test gets its own images there.
IMAGES = "/var/tmp/qv-corpus"


@pytest.fixture(scope="module")
def uri(tmp_path_factory):
    if not QV:
        pytest.fail("QV_CLI is not set (run through ctest)")
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu-system-x86_64 is not installed")
    root = tmp_path_factory.mktemp("qv-corpus-qemu")
    return f"qemu:///session?root={root}", root


def qv(uri, *args):
    return subprocess.run([QV, "-c", uri, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("doc", sorted(CASES))
def test_libvirt_document_starts(uri, doc):
    u, root = uri
    if doc.startswith("tpm-") and not shutil.which("swtpm"):
        pytest.skip("swtpm is not installed (Debian package swtpm)")
    if doc == "secure-boot" and not Path("/usr/share/OVMF/OVMF_CODE_4M.secboot.fd").exists():
        pytest.skip("/usr/share/OVMF/OVMF_CODE_4M.secboot.fd is missing (Debian package ovmf)")
    if "virtiofs" in doc and not os.access("/usr/lib/qemu/virtiofsd", os.X_OK):
        pytest.skip("/usr/lib/qemu/virtiofsd is missing (Debian package qemu-system-common)")
    # Disk images live under /var/tmp/qv-corpus where the documents were made.
    img = root / "img"
    img.mkdir(exist_ok=True)
    for f in "abcd":
        if not (img / f"{f}.qcow2").exists():
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(img / f"{f}.qcow2"),
                            "64M"], check=True)
    (img / "empty.iso").write_bytes(b"\0" * 1048576)
    src = DATA / f"{doc}.xml" if "/" in doc else CORPUS / f"{doc}.xml"
    path = root / (doc.replace("/", "-") + ".xml")
    path.write_text(src.read_text().replace(IMAGES, str(img)))
    name = re.search(r"<name>([^<]+)</name>", path.read_text()).group(1)
    p = qv(u, "vm", "create", "--xml", str(path))
    assert p.returncode == 0, p.stderr
    try:
        p = qv(u, "vm", "start", name)
        if doc == "interface-hostdev" and not Path("/sys/bus/pci/devices/0000:04:10.1").exists():
            assert p.returncode != 0
            assert "the host has no PCI device 0000:04:10.1" in p.stderr, p.stderr
            pytest.skip("this host has no SR-IOV VF 0000:04:10.1; the start names it")
        assert p.returncode == 0, p.stderr
        p = qv(u, "vm", "show", name)
        assert "running" in p.stdout, p.stdout
        cmdline = json.loads((root / "qemu" / name / "runtime.json").read_text())["cmdline"]
        for arg in CASES[doc]:
            assert arg in cmdline, f"{arg!r} not in {cmdline}"
        # What QEMU runs is still the whole document: nothing was dropped.
        shown = qv(u, "vm", "show", name, "--xml").stdout
        assert "<controller" in shown, shown
        if "/" not in doc:
            assert "<memballoon" in shown, shown
        if doc.startswith("tpm-"):
            vmdir = root / "qemu" / name
            assert stat.S_IMODE((vmdir / "tpm").stat().st_mode) == 0o700
            assert stat.S_IMODE((vmdir / "swtpm.sock").stat().st_mode) & 0o077 == 0
            swtpm = int((vmdir / "swtpm.pid").read_text())
            os.kill(swtpm, 0)
            # It stops with the VM.
            assert qv(u, "vm", "stop", name, "--force").returncode == 0
            for _ in range(200):
                try:
                    os.kill(swtpm, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
            else:
                pytest.fail("swtpm outlived its VM")
        # A channel's socket qv placed is the VM's alone.
        for sock in (root / "qemu" / name).glob("channel*.sock"):
            assert stat.S_IMODE(sock.stat().st_mode) & 0o077 == 0, oct(sock.stat().st_mode)
    finally:
        qv(u, "vm", "destroy", name)
