"""Device placement and sockets on the qemu driver, from the hostile review
of issue 14: what a definition says is where QEMU puts it (the guest starts
under TCG with it), and what QEMU would refuse or do harm with is refused
at define, naming it."""
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

QV = os.environ.get("QV_CLI")


@pytest.fixture
def env(tmp_path):
    if not QV:
        pytest.fail("QV_CLI is not set (run through ctest)")
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu-system-x86_64 is not installed")
    return f"qemu:///session?root={tmp_path}/state", tmp_path


def qv(env, *args):
    return subprocess.run([QV, "-c", env[0], *args], capture_output=True, text=True, timeout=120)


def doc(name, devices, machine="pc"):
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='{machine}'>hvm</type></os>
  <devices>
{devices}
  </devices>
</domain>
"""


def create(env, name, devices, machine="pc"):
    path = env[1] / f"{name}.xml"
    path.write_text(doc(name, devices, machine))
    return qv(env, "vm", "create", "--xml", str(path))


def start(env, name, devices, machine="pc"):
    """Define and start; the QEMU command line."""
    p = create(env, name, devices, machine)
    assert p.returncode == 0, p.stderr
    p = qv(env, "vm", "start", name)
    assert p.returncode == 0, p.stderr
    rt = json.loads((env[1] / "state" / "qemu" / name / "runtime.json").read_text())
    return rt["cmdline"]


def refused(env, name, devices, needle, machine="pc"):
    p = create(env, name, devices, machine)
    assert p.returncode != 0, f"defined: {devices}"
    assert needle in p.stderr, p.stderr
    assert qv(env, "vm", "show", name).returncode != 0
    return p.stderr


# ---- channel sockets at a path the user gives ----

def test_channel_bind_path_is_a_private_socket(env):
    sock = env[1] / "agent.sock"
    name = "pl-chan"
    try:
        cmd = start(env, name, f"""<channel type='unix'>
  <source mode='bind' path='{sock}'/>
  <target type='virtio' name='org.qemu.guest_agent.0'/>
</channel>""")
        assert f"path={sock},server=on" in cmd, cmd
        st = os.lstat(sock)
        assert stat.S_ISSOCK(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    finally:
        qv(env, "vm", "destroy", name)


def test_channel_bind_path_on_an_existing_file_is_refused(env):
    victim = env[1] / "notes.txt"
    victim.write_text("keep me")
    refused(env, "pl-file", f"""<channel type='unix'>
  <source mode='bind' path='{victim}'/>
  <target type='virtio' name='org.qemu.guest_agent.0'/>
</channel>""", f"<channel> 1 <source path='{victim}'> is an existing regular file")
    assert victim.read_text() == "keep me"


def test_channel_bind_path_in_qv_state_is_refused(env):
    p = create(env, "pl-other", "")
    assert p.returncode == 0, p.stderr
    target = env[1] / "state" / "qemu" / "pl-other" / "domain.xml"
    before = target.read_text()
    refused(env, "pl-state", f"""<channel type='unix'>
  <source mode='bind' path='{env[1]}/state/qemu/../qemu/pl-other/domain.xml'/>
  <target type='virtio' name='org.qemu.guest_agent.0'/>
</channel>""", "is inside qv's state directory")
    # A serial port bound there is the same harm.
    refused(env, "pl-state2", f"""<serial type='unix'>
  <source mode='bind' path='{env[1]}/state/qemu/x.sock'/>
  <target port='0'/>
</serial>""", "<serial> 1 <source path=")
    assert target.read_text() == before


def test_two_channels_with_one_name_are_refused(env):
    refused(env, "pl-dup", """<channel type='unix'>
  <target type='virtio' name='org.qemu.guest_agent.0'/>
</channel>
<channel type='pty'>
  <target type='virtio' name='org.qemu.guest_agent.0'/>
</channel>""", "<channel> 2 has <target name='org.qemu.guest_agent.0'>, as <channel> 1 does")


def test_two_sockets_on_one_path_are_refused(env):
    sock = env[1] / "one.sock"
    refused(env, "pl-twice", f"""<channel type='unix'>
  <source mode='bind' path='{sock}'/>
  <target type='virtio' name='a.0'/>
</channel>
<channel type='unix'>
  <source mode='bind' path='{sock}'/>
  <target type='virtio' name='b.0'/>
</channel>""", "<channel> 1 listens there too")


# ---- 1. <address> on channels, consoles, rngs, serials ----

def test_addresses_of_channels_consoles_rngs_and_serials_are_honoured(env):
    name = "pl-addr"
    devices = """<controller type='usb' index='0' model='piix3-uhci'/>
<serial type='pty'><target type='isa-serial' port='0'/></serial>
<serial type='null'>
  <target type='isa-serial' port='1'/>
  <address type='isa' iobase='0x2e8' irq='0x5'/>
</serial>
<serial type='null'>
  <target type='pci-serial' port='2'/>
  <address type='pci' domain='0x0000' bus='0x00' slot='0x08' function='0x0'/>
</serial>
<console type='pty'>
  <target type='virtio' port='0'/>
  <address type='virtio-serial' controller='0' bus='0' port='0'/>
</console>
<channel type='unix'>
  <target type='virtio' name='org.qemu.guest_agent.0'/>
  <address type='virtio-serial' controller='0' bus='0' port='3'/>
</channel>
<channel type='pty'>
  <target type='virtio' name='com.example.other.0'/>
</channel>
<rng model='virtio'>
  <backend model='random'>/dev/urandom</backend>
  <address type='pci' domain='0x0000' bus='0x00' slot='0x07' function='0x0'/>
</rng>"""
    try:
        cmd = start(env, name, devices)
        for arg in ["isa-serial,chardev=serial1,id=serial1,index=1,iobase=0x2e8,irq=5",
                    "pci-serial,chardev=serial2,id=serial2,bus=pci.0,addr=0x8",
                    "virtconsole,bus=virtio-serial0.0,chardev=charconsole0",
                    "virtserialport,bus=virtio-serial0.0,nr=3,chardev=charchannel0",
                    # libvirt's numbering: the first port no address took.
                    "virtserialport,bus=virtio-serial0.0,nr=1,chardev=charchannel1",
                    "virtio-rng-pci,rng=rng0,id=rngdev0,bus=pci.0,addr=0x7"]:
            assert arg in cmd, f"{arg!r} not in {cmd}"
        shown = qv(env, "vm", "show", name, "--xml").stdout
        for frag in ['<address type="isa" iobase="0x2e8" irq="0x5"/>',
                     '<address type="virtio-serial" controller="0" bus="0" port="3"/>',
                     'slot="0x07"', 'slot="0x08"']:
            assert frag in shown, shown
        # The JSON config says them too, and defines the same VM again.
        js = json.loads(qv(env, "vm", "show", name, "--json").stdout)
        assert js["devices"]["channels"][0]["address"] == "virtio-serial:0:0:3", js
        assert js["devices"]["serials"][1]["address"] == "isa:0x2e8:5", js
        assert js["devices"]["rngs"][0]["address"] == "pci:0000:00:07.0", js
    finally:
        qv(env, "vm", "destroy", name)


@pytest.mark.parametrize("devices,needle", [
    ("""<channel type='pty'><target type='virtio' name='a.0'/>
<address type='virtio-serial' controller='0' bus='0' port='2'/></channel>
<channel type='pty'><target type='virtio' name='b.0'/>
<address type='virtio-serial' controller='0' bus='0' port='2'/></channel>""",
     "<channel> 1 and <channel> 2 are both at <address> virtio-serial:0:0:2"),
    ("""<channel type='pty'><target type='virtio' name='a.0'/>
<address type='virtio-serial' controller='1' bus='0' port='2'/></channel>""",
     "no <controller type='virtio-serial' index='1'> is there"),
    ("""<controller type='virtio-serial' index='0' ports='4'/>
<channel type='pty'><target type='virtio' name='a.0'/>
<address type='virtio-serial' controller='0' bus='0' port='6'/></channel>""",
     "port='6' is beyond the 4 ports"),
    ("""<rng model='virtio'><backend model='random'>/dev/urandom</backend>
<address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x1'/></rng>""",
     "is the machine's IDE controller"),
    ("""<serial type='null'><target type='isa-serial' port='0'/></serial>
<serial type='null'><target type='isa-serial' port='1'/>
<address type='isa' iobase='0x3f8'/></serial>""",
     "answers at I/O port 0x3f8 too"),
    ("""<serial type='null'><target type='usb-serial' port='0'/>
<address type='isa' iobase='0x3f8'/></serial>""",
     "<address type='isa'> (line 8) on a usb-serial"),
])
def test_address_conflicts_are_refused(env, devices, needle):
    refused(env, "pl-conflict", devices, needle)


# ---- 2. serials without port=, IDE and SATA controllers ----

def test_two_serials_without_port_are_com1_and_com2(env):
    name = "pl-com"
    try:
        cmd = start(env, name, """<serial type='pty'/>
<serial type='null'/>""")
        assert "-serial chardev:serial0" in cmd, cmd
        assert "isa-serial,chardev=serial1,id=serial1,index=1" in cmd, cmd
        shown = qv(env, "vm", "show", name, "--xml").stdout
        assert '<target port="1"/>' in shown, shown
    finally:
        qv(env, "vm", "destroy", name)


def test_a_second_ide_controller_is_refused_clearly(env):
    refused(env, "pl-ide", "<controller type='ide' index='1'/>",
            "the pc machine has one IDE controller, index='0'")


def test_disks_on_a_second_sata_controller(env):
    name = "pl-sata"
    img = env[1] / "s.raw"
    img.write_bytes(b"\0" * 1048576)
    try:
        cmd = start(env, name, f"""<controller type='sata' index='1'/>
<disk type='file' device='disk'><driver name='qemu' type='raw'/>
  <source file='{img}'/><target dev='sdb' bus='sata'/>
  <address type='drive' controller='1' bus='0' target='0' unit='2'/></disk>""", machine="q35")
        assert "ich9-ahci,id=sata1" in cmd, cmd
        assert ",bus=sata1.2," in cmd, cmd
    finally:
        qv(env, "vm", "destroy", name)
    refused(env, "pl-sata2", f"""<disk type='file' device='disk'><driver name='qemu' type='raw'/>
  <source file='{img}'/><target dev='sdb' bus='sata'/>
  <address type='drive' controller='2' bus='0' target='0' unit='0'/></disk>""",
            "no <controller type='sata' index='2'> adds SATA controller 2", machine="q35")


# ---- 4. what QEMU would refuse at start is refused at define ----

def test_many_root_ports_are_packed_eight_to_a_slot(env):
    name = "pl-ports"
    nics = "\n".join(f"<interface type='user'><mac address='52:54:00:00:01:{i:02x}'/>"
                     f"<model type='virtio'/></interface>" for i in range(30))
    try:
        cmd = start(env, name, nics, machine="q35")
        # 30 NICs and 4 spare ports: more than pcie.0 has slots.
        assert cmd.count("pcie-root-port,id=qvport") == 34, cmd
        assert "pcie-root-port,id=qvport0,chassis=1,bus=pcie.0,addr=0x1,multifunction=on" in cmd
        assert "pcie-root-port,id=qvport7,chassis=8,bus=pcie.0,addr=0x1.0x7" in cmd, cmd
    finally:
        qv(env, "vm", "destroy", name)


@pytest.mark.parametrize("machine,devices,needle", [
    ("pc", """<controller type='usb' index='0' model='none'/>
<input type='tablet' bus='usb'/>""", "a USB input needs a <controller type='usb'>"),
    ("pc", """<input type='tablet' bus='usb'/>""", "a USB input needs a <controller type='usb'>"),
    ("pc", """<controller type='usb' index='0' model='piix3-uhci'/>
<input type='tablet' bus='usb'><address type='usb' bus='0' port='5'/></input>""",
     "port='5': the USB controller has ports 1 to 2"),
    ("q35", """<controller type='usb' index='0' model='qemu-xhci' ports='4'/>
<input type='tablet' bus='usb'><address type='usb' bus='0' port='1'/></input>
<input type='mouse' bus='usb'><address type='usb' bus='0' port='1'/></input>""",
     "USB port 1 is already <input type='tablet'>'s place"),
    ("pc", """<rng model='virtio'><backend model='random'>/dev/urandom</backend>
<address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x1'/></rng>""",
     "function 1 of bus 0x00 slot 0x05, whose function 0 nothing holds"),
    ("pc", """<memballoon model='virtio'>
<address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/></memballoon>
<rng model='virtio'><backend model='random'>/dev/urandom</backend>
<address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x1'/></rng>""",
     "whose function 0 (<memballoon>, line 8) does not say multifunction='on'"),
    ("q35", """<controller type='pci' index='1' model='pcie-root-port'>
<address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></controller>""",
     "a pcie-root-port sits on the root complex, bus 0 (this one says bus 0x01, the bus it adds "
     "itself)"),
])
def test_what_qemu_would_refuse_is_refused_at_define(env, machine, devices, needle):
    refused(env, "pl-refuse", devices, needle, machine=machine)


def test_function_one_beside_a_multifunction_zero_starts(env):
    name = "pl-mf"
    try:
        cmd = start(env, name, """<memballoon model='virtio'>
<address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0' multifunction='on'/>
</memballoon>
<rng model='virtio'><backend model='random'>/dev/urandom</backend>
<address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x1'/></rng>""")
        assert "virtio-balloon-pci,id=balloon0,bus=pci.0,addr=0x5,multifunction=on" in cmd, cmd
        assert "virtio-rng-pci,rng=rng0,id=rngdev0,bus=pci.0,addr=0x5.0x1" in cmd, cmd
    finally:
        qv(env, "vm", "destroy", name)
