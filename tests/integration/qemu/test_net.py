"""<bandwidth> on a bridge NIC, enforced with tc on the host tap qv names
(qvt + the MAC's hex digits): inbound as a tbf at the tap's root,
outbound through an ifb device (qvi + the MAC) whose root tbf shapes what
the guest sends. Needs root (CAP_NET_ADMIN), tc, ip, /dev/net/tun and the
ifb device; a host without them reports the test skipped. The guest is
SeaBIOS alone under TCG: shaping is the host's business."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

QV = os.environ.get("QV_CLI")
TAG = f"{os.getpid() % 0x10000:04x}"
BRIDGE = f"qvtestbr{TAG}"
MAC = f"52:54:00:5a:{TAG[:2]}:{TAG[2:]}"
HEX = MAC.replace(":", "")
TAP, IFB = f"qvt{HEX}", f"qvi{HEX}"
NAME = "tcg-netlimit"


def run(*args, check=True):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=60)
    if check:
        assert p.returncode == 0, f"{' '.join(args)}: {p.stderr}"
    return p


def cap_net_admin():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> 12 & 1)
    return False


@pytest.fixture(scope="module")
def bridge():
    if not QV:
        pytest.fail("QV_CLI is not set (run through ctest)")
    if not cap_net_admin():
        pytest.skip("shaping a tap needs CAP_NET_ADMIN (run as root)")
    for tool in ("tc", "ip"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            pytest.skip(f"{tool} (package iproute2) is missing")
    if not os.access("/dev/net/tun", os.R_OK | os.W_OK):
        pytest.skip("/dev/net/tun is missing")
    probe = f"qvprobe{TAG}"
    if run("ip", "link", "add", "name", probe, "type", "ifb", check=False).returncode != 0:
        pytest.skip("this kernel has no ifb device (CONFIG_IFB)")
    run("ip", "link", "del", "dev", probe)
    run("ip", "link", "add", "name", BRIDGE, "type", "bridge")
    yield BRIDGE
    run("ip", "link", "del", "dev", BRIDGE, check=False)


@pytest.fixture(scope="module")
def vm(bridge, tmp_path_factory):
    root = tmp_path_factory.mktemp("qv-net")
    xml = root / "net.xml"
    xml.write_text(f"""<domain type='qemu'><name>{NAME}</name>
  <memory unit='MiB'>64</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <features><acpi/></features>
  <devices>
    <interface type='bridge'><mac address='{MAC}'/><source bridge='{bridge}'/>
      <model type='virtio'/>
      <bandwidth><inbound average='1000' peak='2000' burst='256'/><outbound average='500'/></bandwidth>
    </interface>
  </devices></domain>""")
    st = {"uri": f"qemu:///session?root={root}", "dir": root / "qemu" / NAME}
    qv(st, "vm", "create", "--xml", str(xml))
    yield st
    qv(st, "vm", "destroy", NAME, check=False)


def qv(st, *args, check=True):
    p = subprocess.run([QV, "-c", st["uri"], *args], capture_output=True, text=True, timeout=120)
    if check:
        assert p.returncode == 0, f"qv {' '.join(args)}: {p.stdout}{p.stderr}"
    return p


def root_qdisc(dev):
    """(kind, options) of dev's root qdisc, as `tc -j qdisc show` says."""
    out = json.loads(run("tc", "-j", "qdisc", "show", "dev", dev).stdout)
    root = [q for q in out if q.get("root")]
    return (root[0]["kind"], root[0].get("options", {})) if root else (None, {})


def has_ingress(dev):
    out = json.loads(run("tc", "-j", "qdisc", "show", "dev", dev).stdout)
    return any(q["kind"] == "ingress" for q in out)


def in_force(st):
    out = qv(st, "vm", "show", NAME).stdout
    return out.split("In force (read back from the running VM):\n", 1)[1]


def test_start_shapes_the_tap_on_the_bridge(vm, bridge):
    qv(vm, "vm", "start", NAME)
    assert Path(f"/sys/class/net/{TAP}/master").resolve().name == bridge
    kind, opts = root_qdisc(TAP)
    assert kind == "tbf" and opts["rate"] == 1000 * 1024, opts  # KiB/s as bytes/s
    assert opts["burst"] == 256 * 1024
    assert has_ingress(TAP)
    kind, opts = root_qdisc(IFB)
    assert kind == "tbf" and opts["rate"] == 500 * 1024, opts
    # The guest-to-host redirect to the ifb device.
    filters = run("tc", "-j", "filter", "show", "dev", TAP, "ingress").stdout
    assert f'"to_dev":"{IFB}"' in filters, filters
    assert f"  NIC {MAC}: in 1024000 bytes/s, out 512000 bytes/s (tc on {TAP})\n" in in_force(vm)


def test_net_limit_changes_it_live(vm):
    qv(vm, "vm", "set", NAME, "--net-limit", "8M")
    # 8 Mbit/s is 976.6 KiB/s, rounded up to libvirt's whole KiB/s.
    assert root_qdisc(TAP)[1]["rate"] == 977 * 1024
    assert root_qdisc(IFB)[1]["rate"] == 977 * 1024
    xml = qv(vm, "vm", "show", NAME, "--xml").stdout
    assert '<inbound average="977"/>' in xml and '<outbound average="977"/>' in xml, xml
    # Changed behind qv's back: show reports what tc has.
    run("tc", "qdisc", "replace", "dev", TAP, "root", "tbf", "rate", "800kbit", "burst", "64kb",
        "latency", "50ms")
    assert f"  NIC {MAC}: in 100000 bytes/s, out 1000448 bytes/s" in in_force(vm)
    qv(vm, "vm", "set", NAME, "--net-limit", "0")
    assert root_qdisc(TAP)[0] != "tbf" and not has_ingress(TAP)
    assert not Path(f"/sys/class/net/{IFB}").exists()
    assert f"  NIC {MAC}: in unlimited, out unlimited (tc on {TAP})\n" in in_force(vm)
    assert "<bandwidth" not in qv(vm, "vm", "show", NAME, "--xml").stdout


def test_user_mode_nic_is_refused(vm):
    qv(vm, "vm", "nic-add", NAME, "--network", "user", "--mac", "52:54:00:5b:00:01")
    p = qv(vm, "vm", "set", NAME, "--net-limit", "1M", "--nic", "52:54:00:5b:00:01", check=False)
    assert p.returncode != 0 and "is user-mode (type='user'): it has no host tap" in p.stderr, \
        p.stderr
    assert "<bandwidth" not in qv(vm, "vm", "show", NAME, "--xml").stdout


def test_hot_plugged_bridge_nic_gets_a_named_tap(vm, bridge):
    mac = "52:54:00:5b:00:02"
    qv(vm, "vm", "nic-add", NAME, "--bridge", bridge, "--mac", mac)
    tap = "qvt5254005b0002"
    assert Path(f"/sys/class/net/{tap}/master").resolve().name == bridge
    qv(vm, "vm", "set", NAME, "--net-limit", "2M", "--nic", mac)
    assert root_qdisc(tap)[1]["rate"] == 245 * 1024


def test_stop_leaves_no_device_behind(vm):
    qv(vm, "vm", "set", NAME, "--net-limit", "1M", "--nic", MAC)
    assert Path(f"/sys/class/net/{IFB}").exists()
    qv(vm, "vm", "stop", NAME, "--force")
    assert not Path(f"/sys/class/net/{TAP}").exists()
    assert not Path(f"/sys/class/net/{IFB}").exists()
    assert not Path("/sys/class/net/qvi5254005b0002").exists()
