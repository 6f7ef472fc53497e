"""PCI passthrough on the qemu driver (<hostdev managed='yes'>): the IOMMU
group goes to vfio-pci before QEMU starts and back afterwards. The host is
a fake sysfs tree (QV_SYSFS_ROOT) in which a thread plays the kernel's part
in driver binding; QEMU itself is real and fails to open the device, which
does not exist on this machine, so every start here ends in a failed start
after which the original drivers must be back."""

import glob
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest

from conftest import QV, Cli, assert_valid_domain_xml, drivers
from guests import echo_guest
from fake_sysfs import FakeHost


class FakeKernel(FakeHost):
    """Moves driver links as Linux does when qv writes drivers/D/unbind,
    drivers/D/bind and drivers_probe (honouring driver_override). A bind
    or probe of a device that is still bound waits for its unbind, as the
    kernel would have done it first in the order qv wrote them."""

    def __init__(self, root):
        super().__init__(root)
        self.events = []
        self.pending = []  # (kind, driver or None, bdf)
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def override(self, bdf):
        v = open(self.path("/sys/bus/pci/devices/%s/driver_override" % bdf)).read().strip()
        return None if v in ("", "(null)") else v

    def _take(self, path):
        if not os.path.isfile(path):  # a FIFO: nobody reads it
            return None
        text = open(path).read().strip()
        if text:
            open(path, "w").close()
        return text or None

    def _link(self, bdf):
        return self.path("/sys/bus/pci/devices/%s/driver" % bdf)

    def _run(self):
        while not self._stop.is_set():
            ddir = self.path("/sys/bus/pci/drivers")
            for drv in sorted(os.listdir(ddir)):
                bdf = self._take(os.path.join(ddir, drv, "unbind"))
                if bdf and self.driver_of(bdf) == drv:
                    os.unlink(self._link(bdf))
                    self.events.append(("unbind", drv, bdf))
                bdf = self._take(os.path.join(ddir, drv, "bind"))
                if bdf:
                    self.pending.append(("bind", drv, bdf))
            bdf = self._take(self.path("/sys/bus/pci/drivers_probe"))
            if bdf:
                self.pending.append(("probe", None, bdf))
            for item in list(self.pending):
                kind, drv, bdf = item
                if self.driver_of(bdf) is not None:
                    continue
                self.pending.remove(item)
                target = drv or self.override(bdf)
                if target and os.path.isdir(os.path.join(ddir, target)):
                    os.symlink(os.path.join(ddir, target), self._link(bdf))
                    self.events.append((kind, target, bdf))
            time.sleep(0.005)


def hang_driver(host, name):
    """A driver whose unbind never returns: a FIFO nobody reads."""
    d = host.mkdir("/sys/bus/pci/drivers/%s" % name)
    os.mkfifo(os.path.join(d, "unbind"))
    open(os.path.join(d, "bind"), "w").close()


def make_host(tmp_path):
    h = FakeKernel(tmp_path / "sys-root")
    h.driver_dir("vfio-pci")
    # Group 1: a GPU, its audio function and the root port above them.
    h.add_pci("0000:00:01.0", 0x8086, 0x1901, 0x060400, group=1, driver="pcieport")
    h.add_pci("0000:01:00.0", 0x10de, 0x1b80, 0x030000, group=1, driver="nvidia")
    h.add_pci("0000:01:00.1", 0x10de, 0x10f0, 0x040300, group=1, driver="snd_hda_intel")
    # Group 2: a NIC already on vfio-pci.
    h.add_pci("0000:02:00.0", 0x8086, 0x1533, 0x020000, group=2, driver="vfio-pci")
    # Group 3: a NIC sharing its group with the LPC bridge the host runs on.
    h.add_pci("0000:00:1f.0", 0x8086, 0xa305, 0x060100, group=3, driver="lpc_ich")
    h.add_pci("0000:03:00.0", 0x8086, 0x15b8, 0x020000, group=3, driver="e1000e")
    # Group 4: an audio function, then a device whose unbind hangs.
    hang_driver(h, "hangdrv")
    h.add_pci("0000:04:00.0", 0x1002, 0xaaf0, 0x040300, group=4, driver="snd_hda_intel")
    h.add_pci("0000:04:00.1", 0x1002, 0x67df, 0x030000, group=4, driver="hangdrv")
    # No group at all.
    h.add_pci("0000:05:00.0", 0x1b21, 0x1242, 0x0c0330, driver="xhci_hcd")
    return h


@pytest.fixture
def qemu_cli(tmp_path):
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu-system-x86_64 is not installed")
    if "qemu" not in drivers():
        pytest.skip("libqv was built without the qemu driver")
    return Cli("qemu:///session?root=%s" % (tmp_path / "state"))


def hostdev(bdf, managed="yes"):
    dom, bus, rest = bdf.split(":")
    slot, fn = rest.split(".")
    return ("<hostdev mode='subsystem' type='pci' managed='%s'><source><address "
            "domain='0x%s' bus='0x%s' slot='0x%s' function='0x%s'/></source></hostdev>"
            % (managed, dom, bus, slot, fn))


def define(cli, tmp_path, name, *devs):
    xml = tmp_path / ("%s.xml" % name)
    xml.write_text("<domain type='qemu'><name>%s</name><memory unit='MiB'>32</memory>"
                   "<vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os>"
                   "<devices>%s</devices></domain>\n" % (name, "".join(devs)))
    cli.ok("vm", "create", "--xml", xml)


def env_for(host, timeout_ms=5000):
    return {"QV_SYSFS_ROOT": host.root, "QV_SYSFS_WRITE_TIMEOUT_MS": str(timeout_ms)}


def record(tmp_path, name):
    return glob.glob(str(tmp_path / "state" / "**" / name / "vfio.json"), recursive=True)


ORIGINAL = {"0000:00:01.0": "pcieport", "0000:01:00.0": "nvidia",
            "0000:01:00.1": "snd_hda_intel", "0000:02:00.0": "vfio-pci",
            "0000:00:1f.0": "lpc_ich", "0000:03:00.0": "e1000e",
            "0000:04:00.0": "snd_hda_intel", "0000:04:00.1": "hangdrv",
            "0000:05:00.0": "xhci_hcd"}


def assert_host_as_before(h):
    for bdf, drv in ORIGINAL.items():
        assert h.driver_of(bdf) == drv, (bdf, h.events)
        assert h.override(bdf) is None, bdf


def test_managed_group_goes_to_vfio_and_comes_back(qemu_cli, tmp_path):
    h = make_host(tmp_path)
    define(qemu_cli, tmp_path, "gpu1", hostdev("0000:01:00.0"))
    with h:
        r = qemu_cli("vm", "start", "gpu1", env=env_for(h))
    assert r.rc == 1, r
    # QEMU got as far as opening the device, which this machine lacks.
    assert r.err.startswith("qv: error: QEMU could not start VM 'gpu1': "), r
    assert "vfio" in r.err and "0000:01:00.0" in r.err, r
    # Both endpoints went to vfio-pci; the root port stayed with the host.
    assert h.events == [
        ("unbind", "nvidia", "0000:01:00.0"), ("probe", "vfio-pci", "0000:01:00.0"),
        ("unbind", "snd_hda_intel", "0000:01:00.1"), ("probe", "vfio-pci", "0000:01:00.1"),
        ("unbind", "vfio-pci", "0000:01:00.1"), ("bind", "snd_hda_intel", "0000:01:00.1"),
        ("unbind", "vfio-pci", "0000:01:00.0"), ("bind", "nvidia", "0000:01:00.0")], h.events
    assert_host_as_before(h)
    assert record(tmp_path, "gpu1") == []


def test_group_with_a_host_bridge_is_refused_untouched(qemu_cli, tmp_path):
    h = make_host(tmp_path)
    define(qemu_cli, tmp_path, "nic3", hostdev("0000:03:00.0"))
    with h:
        r = qemu_cli.fails(1, "vm", "start", "nic3", env=env_for(h))
    assert r.err == (
        "qv: error: cannot start VM 'nic3': PCI device 0000:03:00.0 cannot be passed through: "
        "IOMMU group 3 is not viable, it also holds 0000:00:1f.0 (class 060100, a bridge bound "
        "to 'lpc_ich'), which the host needs\n"), r
    assert h.events == []
    assert_host_as_before(h)


def test_device_in_no_group_is_refused(qemu_cli, tmp_path):
    h = make_host(tmp_path)
    define(qemu_cli, tmp_path, "usb5", hostdev("0000:05:00.0"))
    r = qemu_cli.fails(1, "vm", "start", "usb5", env=env_for(h))
    assert "PCI device 0000:05:00.0 is in no IOMMU group" in r.err, r
    assert "intel_iommu=on" in r.err, r


def test_missing_device_is_refused(qemu_cli, tmp_path):
    h = make_host(tmp_path)
    define(qemu_cli, tmp_path, "nodev", hostdev("0000:09:00.0"))
    r = qemu_cli.fails(1, "vm", "start", "nodev", env=env_for(h))
    assert r.err == ("qv: error: cannot start VM 'nodev': the host has no PCI device "
                     "0000:09:00.0\n"), r


def test_unmanaged_needs_vfio_already(qemu_cli, tmp_path):
    h = make_host(tmp_path)
    define(qemu_cli, tmp_path, "um1", hostdev("0000:01:00.0", managed="no"))
    with h:
        r = qemu_cli.fails(1, "vm", "start", "um1", env=env_for(h))
    assert r.err == ("qv: error: cannot start VM 'um1': PCI device 0000:01:00.0 is bound to "
                     "'nvidia', not to vfio-pci, and its <hostdev> has managed='no': bind it to "
                     "vfio-pci first, or use managed='yes'\n"), r
    # Already on vfio-pci: nothing to move, QEMU is asked directly.
    define(qemu_cli, tmp_path, "um2", hostdev("0000:02:00.0", managed="no"))
    with h:
        r = qemu_cli.fails(1, "vm", "start", "um2", env=env_for(h))
    assert r.err.startswith("qv: error: QEMU could not start VM 'um2': "), r
    assert h.events == []
    assert_host_as_before(h)


def test_hanging_unbind_times_out_and_gives_back(qemu_cli, tmp_path):
    h = make_host(tmp_path)
    define(qemu_cli, tmp_path, "hang4", hostdev("0000:04:00.1"))
    t0 = time.monotonic()
    with h:
        r = qemu_cli.fails(1, "vm", "start", "hang4", env=env_for(h, timeout_ms=300))
    assert time.monotonic() - t0 < 30
    unbind = h.path("/sys/bus/pci/drivers/hangdrv/unbind")
    assert r.err == (
        "qv: error: cannot start VM 'hang4': cannot bind PCI device 0000:04:00.1 to vfio-pci: "
        "writing '0000:04:00.1' to %s did not finish within 300 ms (the device or its driver "
        "hangs; it may need a host reboot)\n" % unbind), r
    # The audio function had already moved; it is back with its driver.
    assert h.events == [
        ("unbind", "snd_hda_intel", "0000:04:00.0"), ("probe", "vfio-pci", "0000:04:00.0"),
        ("unbind", "vfio-pci", "0000:04:00.0"), ("bind", "snd_hda_intel", "0000:04:00.0")]
    assert_host_as_before(h)
    assert record(tmp_path, "hang4") == []


def test_killed_start_is_made_good_on_next_open(qemu_cli, tmp_path):
    """qv killed while the unbind hangs: the record in the VM directory lets
    the next command that opens the VM give the devices back."""
    h = make_host(tmp_path)
    define(qemu_cli, tmp_path, "kill4", hostdev("0000:04:00.1"))
    env = dict(os.environ, LC_ALL="C.UTF-8", **env_for(h, timeout_ms=120000))
    with h:
        p = subprocess.Popen([QV, "-c", qemu_cli.uri, "vm", "start", "kill4"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 30
            while not (h.driver_of("0000:04:00.0") == "vfio-pci" and
                       h.override("0000:04:00.1") == "vfio-pci"):
                assert time.monotonic() < deadline and p.poll() is None, h.events
                time.sleep(0.02)
            assert len(record(tmp_path, "kill4")) == 1
        finally:
            p.send_signal(signal.SIGKILL)
            p.wait(timeout=10)
        qemu_cli.ok("vm", "show", "kill4", env=env_for(h))
    assert_host_as_before(h)
    assert record(tmp_path, "kill4") == []
    assert h.events[-2:] == [("unbind", "vfio-pci", "0000:04:00.0"),
                             ("bind", "snd_hda_intel", "0000:04:00.0")], h.events


# ---- qv vm set --pci-add / --pci-remove ----

def test_pci_add_and_remove_in_the_definition(cli, tmp_path):
    cli.ok("vm", "create", "--name", "p1")
    assert cli.ok("vm", "set", "p1", "--pci-add", "01:00.0").out == "VM 'p1' updated.\n"
    xml = cli.ok("vm", "show", "p1", "--xml").out
    assert '<hostdev mode="subsystem" type="pci" managed="yes">' in xml, xml
    assert '<address domain="0x0000" bus="0x01" slot="0x00" function="0x0"/>' in xml, xml
    assert_valid_domain_xml(xml, tmp_path)
    r = cli.fails(1, "vm", "set", "p1", "--pci-add", "0000:01:00.0")
    assert r.err == "qv: error: VM 'p1' already has host device 0000:01:00.0\n", r
    # Remove and add in one call: the removal goes first.
    cli.ok("vm", "set", "p1", "--pci-add", "0000:02:00.1", "--pci-remove", "0000:01:00.0")
    xml = cli.ok("vm", "show", "p1", "--xml").out
    assert 'bus="0x01"' not in xml and 'bus="0x02" slot="0x00" function="0x1"' in xml, xml
    cli.ok("vm", "set", "p1", "--pci-remove", "02:00.1")
    assert "<hostdev" not in cli.ok("vm", "show", "p1", "--xml").out
    r = cli.fails(1, "vm", "set", "p1", "--pci-remove", "02:00.1")
    assert r.err == "qv: error: VM 'p1' has no host device 0000:02:00.1\n", r


@pytest.mark.parametrize("value", ["1:00.0", "0000:01:20.0", "01:00.8", "0000:01:00.0 ",
                                   "g000:01:00.0", "-1:00.0", ""])
def test_pci_add_bad_address(cli, value):
    r = cli.fails(2, "vm", "set", "p1", "--pci-add", value)
    assert r.err.startswith("qv: vm set: option '--pci-add': '%s' is not a PCI address "
                            "(DDDD:BB:SS.F or BB:SS.F" % value), r


def test_pci_add_twice_is_a_usage_error(cli):
    r = cli.fails(2, "vm", "set", "p1", "--pci-add", "01:00.0", "--pci-add", "02:00.0")
    assert "option '--pci-add' is given twice" in r.err, r


def test_pci_add_then_start_binds_the_group(qemu_cli, tmp_path):
    h = make_host(tmp_path)
    define(qemu_cli, tmp_path, "pa1")
    qemu_cli.ok("vm", "set", "pa1", "--pci-add", "0000:01:00.1")
    with h:
        r = qemu_cli.fails(1, "vm", "start", "pa1", env=env_for(h))
    assert r.err.startswith("qv: error: QEMU could not start VM 'pa1': "), r
    assert ("probe", "vfio-pci", "0000:01:00.0") in h.events, h.events
    assert ("probe", "vfio-pci", "0000:01:00.1") in h.events, h.events
    assert_host_as_before(h)


def test_pci_add_on_a_running_qemu_vm_is_refused(qemu_cli, tmp_path):
    kernel = tmp_path / "echo.mb"
    kernel.write_bytes(echo_guest())
    xml = tmp_path / "run1.xml"
    xml.write_text("<domain type='qemu'><name>run1</name><memory unit='MiB'>32</memory>"
                   "<vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type>"
                   "<kernel>%s</kernel></os></domain>\n" % kernel)
    qemu_cli.ok("vm", "create", "--xml", xml)
    qemu_cli.ok("vm", "start", "run1")
    try:
        r = qemu_cli.fails(1, "vm", "set", "run1", "--pci-add", "0000:01:00.0")
        assert r.err == ("qv: error: the qemu driver cannot add or remove a host device of VM "
                         "'run1' while it runs; stop it first\n"), r
        assert "<hostdev" not in qemu_cli.ok("vm", "show", "run1", "--xml").out
    finally:
        qemu_cli("vm", "destroy", "run1")


def test_record_is_given_back_on_open_and_gone_devices_skipped(qemu_cli, tmp_path):
    """A record left by a crash: the device still on vfio-pci goes back, one
    that left the host meanwhile is skipped, and the record goes."""
    h = make_host(tmp_path)
    define(qemu_cli, tmp_path, "rec1")
    os.unlink(h.path("/sys/bus/pci/devices/0000:01:00.1/driver"))
    os.symlink(h.path("/sys/bus/pci/drivers/vfio-pci"),
               h.path("/sys/bus/pci/devices/0000:01:00.1/driver"))
    h.write("/sys/bus/pci/devices/0000:01:00.1/driver_override", "vfio-pci\n")
    vm_dir = glob.glob(str(tmp_path / "state" / "**" / "rec1"), recursive=True)[0]
    with open(os.path.join(vm_dir, "vfio.json"), "w") as f:
        f.write('{"devices": [{"bdf": "0000:07:00.0", "driver": "e1000e", "override": null},'
                ' {"bdf": "0000:01:00.1", "driver": "snd_hda_intel", "override": null}]}')
    with h:
        qemu_cli.ok("vm", "show", "rec1", env=env_for(h))
    assert_host_as_before(h)
    assert record(tmp_path, "rec1") == []
    assert "PCI device 0000:01:00.1 given back to snd_hda_intel" in \
        open(os.path.join(vm_dir, "qv.log")).read()


def test_damaged_record_is_dropped_with_a_log_line(qemu_cli, tmp_path):
    h = make_host(tmp_path)
    define(qemu_cli, tmp_path, "rec2")
    vm_dir = glob.glob(str(tmp_path / "state" / "**" / "rec2"), recursive=True)[0]
    with open(os.path.join(vm_dir, "vfio.json"), "w") as f:
        f.write('{"devices": [{"bdf": "../../etc", "driver": "x"}]}')
    qemu_cli.ok("vm", "show", "rec2", env=env_for(h))
    assert record(tmp_path, "rec2") == []
    assert "dropping an unreadable passthrough record" in \
        open(os.path.join(vm_dir, "qv.log")).read()
    assert_host_as_before(h)


def define_json(cli, tmp_path, name, *pci):
    import json as _json
    cfg = tmp_path / ("%s.json" % name)
    cfg.write_text(_json.dumps({"name": name, "type": "qemu", "vcpus": 1, "memory": "32M",
                                "boot": {"machine": "pc"},
                                "devices": {"pci_passthrough": list(pci)}}))
    cli.ok("vm", "create", "--config", cfg)


def qv_log(tmp_path, name):
    return "".join(open(p).read() for p in
                   glob.glob(str(tmp_path / "state" / "**" / name / "qv.log"), recursive=True))


def test_gpu_takes_its_audio_function(qemu_cli, tmp_path):
    h = make_host(tmp_path)
    define_json(qemu_cli, tmp_path, "g1", {"bdf": "0000:01:00.0", "type": "gpu"})
    shown = qemu_cli.ok("vm", "show", "g1", "--json").out
    assert '"type" : "gpu"' in shown, shown
    xml = qemu_cli.ok("vm", "show", "g1", "--xml").out
    assert '<qv:hostdev address="0000:01:00.0" type="gpu"/>' in xml, xml
    assert_valid_domain_xml(xml, tmp_path)
    with h:
        r = qemu_cli.fails(1, "vm", "start", "g1", env=env_for(h))
    assert r.err.startswith("qv: error: QEMU could not start VM 'g1': "), r
    log = qv_log(tmp_path, "g1")
    assert ("PCI device 0000:01:00.1: passed through with GPU 0000:01:00.0, its audio "
            "function") in log, log
    assert_host_as_before(h)
    # The definition still lists only what the user gave.
    assert "0000:01:00.1" not in qemu_cli.ok("vm", "show", "g1", "--json").out


@pytest.mark.parametrize("bdf,kind,cls", [("0000:01:00.0", "nic", "0x030000"),
                                          ("0000:02:00.0", "gpu", "0x020000")])
def test_kind_must_match_the_class(qemu_cli, tmp_path, bdf, kind, cls):
    h = make_host(tmp_path)
    define_json(qemu_cli, tmp_path, "k1", {"bdf": bdf, "type": kind})
    with h:
        r = qemu_cli.fails(1, "vm", "start", "k1", env=env_for(h))
    assert ("PCI device %s is given as a %s but its class is %s" % (bdf, kind, cls)) in r.err, r
    assert h.events == [], h.events
    assert_host_as_before(h)
