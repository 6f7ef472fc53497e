"""qv system info and qv system pci-list."""

import fcntl
import json
import os
import re
import shutil

import pytest

from conftest import drivers, parse_kv, parse_table, run_qv
from fake_sysfs import FakeHost


HOST_FACTS = ["KVM usable", "QEMU with KVM", "CPU virt flags", "IOMMU groups", "VFIO modules",
              "hugetlbfs", "Hugepages", "QEMU", "qemu-img", "genisoimage", "OVMF", "cgroup cpu"]
INFO_KEYS = ["Version", "Drivers", "Host CPUs"] + HOST_FACTS + ["Connection", "Driver",
                                                                "State dir"]


def parse_info(text):
    """`qv system info` as {label: value} plus {label: fix} for the
    "  to fix: ..." line under a missing fact."""
    kv, fixes, last = {}, {}, None
    for line in text.splitlines():
        if line.startswith("  to fix: "):
            assert last and last not in fixes, text
            fixes[last] = line[len("  to fix: "):]
            continue
        key, sep, value = line.partition(":")
        assert sep and not line.startswith(" "), line
        kv[key] = value.strip()
        last = key
    return kv, fixes


def test_system_info(cli):
    r = cli.ok("system", "info")
    kv, fixes = parse_info(r.out)
    assert list(kv) == INFO_KEYS, r
    assert re.fullmatch(r"qv \d+\.\d+\.\d+, libqv \d+\.\d+\.\d+", kv["Version"])
    assert "noop" in [d.strip() for d in kv["Drivers"].split(",")]
    assert kv["Connection"] == cli.uri
    assert kv["Driver"] == "noop"
    online = open("/sys/devices/system/cpu/online").read().strip()
    assert kv["Host CPUs"] == "%d online (%s)" % (os.sysconf("SC_NPROCESSORS_ONLN"), online)
    # KVM by ioctl, through the kvm driver's probe.
    k = kv["KVM usable"]
    if "kvm" not in drivers():
        assert k == ("not probed: the kvm driver is not built into this libqv (configure "
                     "with -DQV_WITH_KVM=ON)"), kv
    elif not os.path.exists("/dev/kvm"):
        assert k == ("no: KVM is not available: /dev/kvm does not exist (is the kvm module "
                     "loaded, or is this a machine without virtualization?)"), kv
    elif not os.access("/dev/kvm", os.R_OK | os.W_OK):
        assert k.startswith("no: cannot open /dev/kvm: permission denied"), kv
    else:
        assert re.fullmatch(r"yes \(KVM API version 12, up to \d+ vCPUs per VM\)|no: .+", k), kv
    # From the library's probe, which starts QEMU with -accel kvm.
    q = kv["QEMU with KVM"]
    if "qemu" not in drivers():
        assert q == ("not probed: the qemu driver is not built into this libqv (configure "
                     "with -DQV_WITH_QEMU=ON)"), kv
    elif not os.path.exists("/dev/kvm"):
        assert q == "unusable: /dev/kvm missing", kv
    elif not os.access("/dev/kvm", os.R_OK | os.W_OK):
        assert q.startswith("unusable: /dev/kvm not accessible: "), kv
    elif not shutil.which("qemu-system-x86_64"):
        # Nothing to probe with: the line says so instead of a verdict.
        assert q.startswith("unknown ("), kv
    else:
        assert re.fullmatch(r"usable|usable with QEMU's default CPU model; unusable with CPU "
                            r"model host: .+|unusable with CPU model host: .+", q), kv


def test_system_info_reads_the_real_host(cli):
    """What this machine has, read back independently of qv."""
    kv, fixes = parse_info(cli.ok("system", "info").out)
    flags = set()
    for line in open("/proc/cpuinfo"):
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    if "vmx" in flags:
        assert kv["CPU virt flags"].startswith("vmx (Intel VT-x)"), kv
    elif "svm" in flags:
        assert kv["CPU virt flags"].startswith("svm (AMD-V)"), kv
    else:
        assert kv["CPU virt flags"].startswith("neither vmx nor svm"), kv
        assert "CPU virt flags" in fixes
    groups = [g for g in os.listdir("/sys/kernel/iommu_groups")] \
        if os.path.isdir("/sys/kernel/iommu_groups") else []
    if groups:
        assert kv["IOMMU groups"] == "%d groups" % len(groups), kv
    else:
        assert kv["IOMMU groups"] == "none (no IOMMU is active)", kv
        assert "intel_iommu=on" in fixes["IOMMU groups"]
    mods = ["vfio", "vfio_pci", "vfio_iommu_type1"]
    assert kv["VFIO modules"] == ", ".join(
        "%s %s" % (m, "loaded" if os.path.isdir("/sys/module/" + m) else "not loaded")
        for m in mods), kv
    huge = [line.split()[1] for line in open("/proc/mounts") if line.split()[2] == "hugetlbfs"]
    assert kv["hugetlbfs"] == ("mounted at " + ", ".join(huge) if huge else "not mounted"), kv
    assert ("hugetlbfs" in fixes) == (not huge)
    for key, prog in (("QEMU", "qemu-system-x86_64"), ("qemu-img", "qemu-img"),
                      ("genisoimage", "genisoimage")):
        found = shutil.which(prog)
        assert kv[key] == (found if found else "%s not found in PATH" % prog), kv
        assert (key in fixes) == (not found)
    if os.path.exists("/usr/share/OVMF/OVMF_CODE_4M.fd"):
        assert kv["OVMF"] == "/usr/share/OVMF/OVMF_CODE_4M.fd", kv
    cpu_v1 = [line.split()[1] for line in open("/proc/mounts")
              if line.split()[2] == "cgroup" and "cpu" in line.split()[3].split(",")]
    if cpu_v1 and os.geteuid() == 0:
        assert kv["cgroup cpu"].startswith("v1, cpu controller mounted at %s" % cpu_v1[0]) or \
            kv["cgroup cpu"].startswith("v2, cpu controller delegated"), kv


def fake_host(tmp_path):
    h = FakeHost(tmp_path / "host")
    h.write("/proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu vme svm lm\n\n"
                             "processor\t: 1\nflags\t\t: fpu vme svm lm\n")
    for g in (0, 1, 7):
        h.mkdir("/sys/kernel/iommu_groups/%d/devices" % g)
    h.mkdir("/sys/module/vfio")
    h.mkdir("/sys/module/vfio_pci")
    h.write("/proc/mounts",
            "sysfs /sys sysfs rw 0 0\n"
            "hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0\n"
            "none /mnt/huge\\040pages hugetlbfs rw,pagesize=1024M 0 0\n"
            "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n")
    h.write("/proc/self/cgroup", "0::/user.slice/qv.scope\n")
    h.write("/sys/fs/cgroup/user.slice/qv.scope/cgroup.controllers", "cpuset cpu io memory\n")
    h.write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "8\n")
    h.write("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", "3\n")
    h.write("/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", "0\n")
    h.write("/sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages", "0\n")
    h.write("/usr/share/OVMF/OVMF_CODE.fd", "")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "qemu-img").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "qemu-img").chmod(0o755)
    return h, str(bin_dir)


@pytest.mark.parametrize("how", ["option", "env"])
def test_system_info_fake_host(cli, tmp_path, how):
    h, path = fake_host(tmp_path)
    if how == "option":
        r = cli("system", "info", "--sysfs-root", h.root, env={"PATH": path})
    else:
        r = cli("system", "info", env={"PATH": path, "QV_SYSFS_ROOT": h.root})
    assert r.rc == 0, r
    kv, fixes = parse_info(r.out)
    assert list(kv) == INFO_KEYS, r
    assert kv["CPU virt flags"] == "svm (AMD-V) (for information only: 'KVM usable' is the test)"
    assert kv["IOMMU groups"] == "3 groups"
    assert kv["VFIO modules"] == "vfio loaded, vfio_pci loaded, vfio_iommu_type1 not loaded"
    assert fixes["VFIO modules"].startswith("modprobe vfio-pci")
    assert kv["hugetlbfs"] == "mounted at /dev/hugepages, /mnt/huge pages"
    assert kv["Hugepages"] == "2048 KiB: 3 free of 8; 1048576 KiB: 0 free of 0"
    assert kv["QEMU"] == "qemu-system-x86_64 not found in PATH"
    assert fixes["QEMU"] == "apt-get install qemu-system-x86"
    assert kv["qemu-img"] == path + "/qemu-img"
    assert kv["genisoimage"] == "genisoimage not found in PATH"
    assert "genisoimage" in fixes["genisoimage"]
    assert kv["OVMF"] == "/usr/share/OVMF/OVMF_CODE.fd"
    assert kv["cgroup cpu"] == "v2, cpu controller delegated (/sys/fs/cgroup/user.slice/qv.scope)"
    assert set(fixes) == {"VFIO modules", "QEMU", "genisoimage"}, fixes


def test_system_info_empty_host_says_what_to_do(cli, tmp_path):
    """Nothing there: every host fact is missing and says how to get it."""
    empty = tmp_path / "empty"
    empty.mkdir()
    r = cli("system", "info", "--sysfs-root", str(empty), env={"PATH": str(empty)})
    assert r.rc == 0, r
    kv, fixes = parse_info(r.out)
    for key in ("IOMMU groups", "VFIO modules", "hugetlbfs", "Hugepages", "QEMU", "qemu-img",
                "genisoimage", "OVMF", "cgroup cpu", "CPU virt flags"):
        assert key in fixes and fixes[key], (key, r)
    assert kv["Hugepages"] == "not supported by this kernel"
    assert kv["cgroup cpu"] == "no cgroup cpu controller mounted"
    assert kv["OVMF"].startswith("not found in /usr/share/OVMF")
    assert "apt-get install ovmf" in fixes["OVMF"]
    assert "Delegate" in fixes["cgroup cpu"]


def test_system_info_cgroup_v2_without_cpu(cli, tmp_path):
    h = FakeHost(tmp_path / "host")
    h.write("/proc/mounts", "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n")
    h.write("/proc/self/cgroup", "0::/app\n")
    h.write("/sys/fs/cgroup/app/cgroup.controllers", "memory pids\n")
    kv, fixes = parse_info(cli.ok("system", "info", "--sysfs-root", h.root).out)
    assert kv["cgroup cpu"] == "cgroup v2 at /sys/fs/cgroup without the cpu controller in /app"
    assert "cgroup cpu" in fixes


def test_system_info_json(cli, tmp_path):
    h, path = fake_host(tmp_path)
    r = cli.ok("system", "info", "--json", "--sysfs-root", h.root, env={"PATH": path})
    doc = json.loads(r.out)
    assert list(doc) == ["version", "drivers", "host_cpus", "kvm", "qemu_kvm",
                         "cpu_virt_flags", "iommu_groups", "vfio_modules", "hugetlbfs",
                         "hugepages", "qemu", "qemu_img", "genisoimage", "ovmf", "cgroup_cpu",
                         "connection"], doc
    assert doc["connection"] == {"uri": cli.uri, "driver": "noop",
                                 "state_dir": doc["connection"]["state_dir"]}
    assert "noop" in doc["drivers"]
    assert doc["host_cpus"]["online"] == os.sysconf("SC_NPROCESSORS_ONLN")
    assert doc["iommu_groups"] == {"ok": True, "summary": "3 groups", "count": 3}
    assert doc["vfio_modules"]["ok"] is False
    assert doc["vfio_modules"]["modules"] == {"vfio": True, "vfio_pci": True,
                                              "vfio_iommu_type1": False}
    assert doc["vfio_modules"]["hint"].startswith("modprobe")
    assert doc["hugetlbfs"]["mounts"] == ["/dev/hugepages", "/mnt/huge pages"]
    assert doc["hugepages"]["sizes"] == [{"size_kib": 2048, "total": 8, "free": 3},
                                         {"size_kib": 1048576, "total": 0, "free": 0}]
    assert doc["cpu_virt_flags"]["flags"] == ["svm"]
    assert doc["qemu"] == {"ok": False, "summary": "qemu-system-x86_64 not found in PATH",
                           "hint": "apt-get install qemu-system-x86", "path": None}
    assert doc["qemu_img"]["path"] == path + "/qemu-img"
    assert doc["ovmf"]["path"] == "/usr/share/OVMF/OVMF_CODE.fd"
    assert doc["cgroup_cpu"]["version"] == "v2"
    assert doc["cgroup_cpu"]["path"] == "/sys/fs/cgroup/user.slice/qv.scope"
    for key in ("kvm", "qemu_kvm"):
        assert isinstance(doc[key]["ok"], bool) and doc[key]["summary"], doc[key]


def test_system_info_json_on_a_bad_connection(nocli):
    r = nocli("system", "info", "--json")
    assert (r.rc, r.out) == (1, ""), r
    assert r.err.startswith("qv: error: no driver for URI scheme 'bogus'"), r


def test_system_info_default_uri_and_state_dir(cli, tmp_path):
    r = run_qv("system", "info", env={"QV_DEFAULT_URI": cli.uri,
                                      "QV_STATE_DIR": str(tmp_path / "st")})
    assert r.rc == 0, r
    kv = parse_kv(r.out)
    assert kv["Connection"] == cli.uri
    assert kv["State dir"] == str(tmp_path / "st")


def kvm_usable():
    """What qv checks before it defaults to kvm:///session: /dev/kvm opens
    read-write and answers KVM_GET_API_VERSION with 12."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return fcntl.ioctl(fd, 0xAE00) == 12
    except OSError:
        return False
    finally:
        os.close(fd)


def test_default_uri_without_environment(tmp_path):
    # With neither -c nor $QV_DEFAULT_URI, a VM that `qv vm start` leaves
    # running must outlive that qv: kvm:///session where KVM is usable.
    # Elsewhere the default stays kvm:///embed, whose connection needs
    # /dev/kvm (kvm:///session's does not, so its error tells them apart).
    if "kvm" not in drivers():
        pytest.skip("libqv was built without the kvm driver")
    env = {"QV_STATE_DIR": str(tmp_path / "st")}
    if os.environ.get("QV_VMM"):
        env["QV_VMM"] = os.environ["QV_VMM"]
    r = run_qv("system", "info", env=env)
    if kvm_usable():
        assert r.rc == 0, r
        assert parse_kv(r.out)["Connection"] == "kvm:///session", r
    else:
        assert r.rc == 1, r
        assert r.err.startswith("qv: error: KVM is not available: /dev/kvm"), r


def test_system_info_connection_error(nocli):
    r = nocli("system", "info")
    assert r.rc == 1, r
    assert "Drivers:" in r.out  # the host facts come first
    assert r.err.startswith("qv: error: no driver for URI scheme 'bogus'"), r


# Every driver libqv has, and a URI each would serve.
LEFT_OUT_URIS = {"noop": "noop:///", "kvm": "kvm:///embed", "qemu": "qemu:///session",
                 "propolis": "propolis://127.0.0.1:1", "remote": "noop+ssh://localhost/"}


@pytest.mark.parametrize("driver", sorted(LEFT_OUT_URIS))
def test_left_out_driver_is_named_with_its_option(driver):
    """A URI for a driver this build left out (-DQV_WITH_<DRIVER>=OFF) is
    refused naming the driver and the option, unlike an unknown scheme."""
    if driver in drivers():
        pytest.skip("the %s driver is built into this libqv" % driver)
    uri = LEFT_OUT_URIS[driver]
    r = run_qv("vm", "list", uri=uri)
    assert (r.rc, r.out) == (1, ""), r
    assert r.err == ("qv: error: cannot open '%s': the %s driver is not built into this libqv "
                     "(configure with -DQV_WITH_%s=ON)\n" % (uri, driver, driver.upper())), r


def test_system_info_lists_only_built_drivers():
    r = run_qv("system", "info", uri="bogus:///")
    listed = [d.strip() for d in parse_kv(r.out)["Drivers"].split(",")]
    assert set(listed) <= set(LEFT_OUT_URIS), r
    expected = os.environ.get("QV_BUILT_DRIVERS")
    if expected is None:
        pytest.skip("QV_BUILT_DRIVERS (set by tests/integration/cli.cmake) is unset")
    assert listed == expected.split(","), r


# ---- qv system pci-list ----

PCI_HEADERS = ["BDF", "VENDOR", "DEVICE", "CLASS", "GROUP", "DRIVER"]

PCI_IDS = """# pci.ids excerpt
10de  NVIDIA Corporation
\t1b80  GP104 [GeForce GTX 1080]
\t10f0  GP104 High Definition Audio Controller
\t\t10de 119e  subsystem line, ignored
8086  Intel Corporation
\t1533  I210 Gigabit Network Connection

C 02  Network controller
\t00  Ethernet controller
"""


def pci_host(tmp_path, ids=True):
    """Five groups: a GPU and its audio function on host drivers; a NIC on
    vfio-pci; a USB controller with nothing bound sharing its group with a
    bridge on pcieport; a device held by pci-stub; and a host bridge in no
    group."""
    h = FakeHost(tmp_path / "pci")
    h.add_pci("0000:00:00.0", 0x8086, 0x1237, 0x060000)
    h.add_pci("0000:01:00.0", 0x10de, 0x1b80, 0x030000, group=1, driver="nvidia")
    h.add_pci("0000:01:00.1", 0x10de, 0x10f0, 0x040300, group=1, driver="snd_hda_intel")
    h.add_pci("0000:02:00.0", 0x8086, 0x1533, 0x020000, group=2, driver="vfio-pci")
    h.add_pci("0000:00:1c.0", 0x8086, 0xa110, 0x060400, group=3, driver="pcieport")
    h.add_pci("0000:03:00.0", 0x1b21, 0x1242, 0x0c0330, group=3)
    h.add_pci("0000:04:00.0", 0x1af4, 0x1041, 0x020000, group=4, driver="pci-stub")
    if ids:
        h.write("/usr/share/misc/pci.ids", PCI_IDS)
    return h


def test_pci_list_table(cli, tmp_path):
    h = pci_host(tmp_path)
    r = cli.ok("system", "pci-list", "--sysfs-root", h.root)
    rows = parse_table(r.out, PCI_HEADERS)
    assert [(x["BDF"], x["GROUP"], x["DRIVER"]) for x in rows] == [
        ("0000:00:00.0", "-", "-"), ("0000:00:1c.0", "3", "pcieport"),
        ("0000:01:00.0", "1", "nvidia"), ("0000:01:00.1", "1", "snd_hda_intel"),
        ("0000:02:00.0", "2", "vfio-pci"), ("0000:03:00.0", "3", "-"),
        ("0000:04:00.0", "4", "pci-stub")], r
    gpu = rows[2]
    assert gpu["VENDOR"] == "10de NVIDIA Corporation"
    assert gpu["DEVICE"] == "1b80 GP104 [GeForce GTX 1080]"
    assert gpu["CLASS"] == "030000"
    # Ids without a pci.ids entry stay bare.
    assert (rows[5]["VENDOR"], rows[5]["DEVICE"]) == ("1b21", "1242")
    assert rows[4]["DEVICE"] == "1533 I210 Gigabit Network Connection"


def test_pci_list_available_hides_groups_in_host_use(cli, tmp_path):
    h = pci_host(tmp_path)
    r = cli.ok("system", "pci-list", "--available", "--sysfs-root", h.root)
    rows = parse_table(r.out, PCI_HEADERS)
    # Group 1 is on host drivers, group 3's bridge is on pcieport, and the
    # host bridge has no group at all.
    assert [x["BDF"] for x in rows] == ["0000:02:00.0", "0000:04:00.0"], r


def test_pci_list_json(cli, tmp_path):
    h = pci_host(tmp_path, ids=False)
    doc = json.loads(cli.ok("system", "pci-list", "--json",
                            env={"QV_SYSFS_ROOT": h.root}).out)
    assert doc["iommu"] is True and doc["pci_ids"] is False
    by = {d["bdf"]: d for d in doc["devices"]}
    assert by["0000:01:00.1"] == {"bdf": "0000:01:00.1", "vendor_id": "10de",
                                  "device_id": "10f0", "vendor": None, "device": None,
                                  "class": "040300", "iommu_group": 1,
                                  "driver": "snd_hda_intel", "in_host_use": True}
    assert by["0000:00:00.0"]["iommu_group"] is None
    assert by["0000:02:00.0"]["in_host_use"] is False
    assert by["0000:04:00.0"]["in_host_use"] is False
    avail = json.loads(cli.ok("system", "pci-list", "--json", "--available",
                              "--sysfs-root", h.root).out)
    assert [d["bdf"] for d in avail["devices"]] == ["0000:02:00.0", "0000:04:00.0"]


def test_pci_list_without_iommu_says_so(cli, tmp_path):
    h = FakeHost(tmp_path / "noiommu")
    h.add_pci("0000:00:02.0", 0x1234, 0x1111, 0x030000, driver="bochs-drm")
    r = cli.ok("system", "pci-list", "--sysfs-root", h.root)
    lines = r.out.splitlines()
    assert parse_table("\n".join(lines[:-1]), PCI_HEADERS)[0]["BDF"] == "0000:00:02.0"
    assert lines[-1].startswith("This host has no IOMMU groups: no device can be passed "
                                "through."), r
    r = cli.ok("system", "pci-list", "--available", "--sysfs-root", h.root)
    assert r.out.splitlines()[0] == "No PCI device is available for passthrough.", r
    empty = tmp_path / "empty"
    empty.mkdir()
    r = cli.ok("system", "pci-list", "--sysfs-root", str(empty))
    assert r.out.splitlines()[0] == "No PCI devices found.", r


def test_pci_list_real_host(cli):
    """A smoke run on this machine, checked against sysfs read here."""
    r = cli.ok("system", "pci-list")
    lines = r.out.splitlines()
    real = sorted(os.listdir("/sys/bus/pci/devices")) if os.path.isdir(
        "/sys/bus/pci/devices") else []
    has_groups = os.path.isdir("/sys/kernel/iommu_groups") and \
        os.listdir("/sys/kernel/iommu_groups")
    if not has_groups:
        assert lines[-1].startswith("This host has no IOMMU groups"), r
        lines = lines[:-1]
    if not real:
        assert lines == ["No PCI devices found."], r
        return
    rows = parse_table("\n".join(lines), PCI_HEADERS)
    assert [x["BDF"] for x in rows] == real
    for x in rows:
        link = "/sys/bus/pci/devices/%s/driver" % x["BDF"]
        drv = os.path.basename(os.readlink(link)) if os.path.lexists(link) else "-"
        assert x["DRIVER"] == drv, x
        vendor = open("/sys/bus/pci/devices/%s/vendor" % x["BDF"]).read().strip()
        assert x["VENDOR"].split()[0] == vendor[2:], x


def test_pci_list_usage(cli):
    r = cli.fails(2, "system", "pci-list", "extra")
    r = cli("system", "pci-list", "--help")
    assert r.rc == 0 and r.out.startswith("Usage: qv system pci-list"), r
