"""qv.kvm_probe, qv.host_info and qv.host_pci_list."""

import os

import qv


def test_kvm_probe_matches_dev_kvm():
    if "kvm" not in qv.list_drivers():
        try:
            qv.kvm_probe()
        except qv.UnsupportedError:
            return
        raise AssertionError("kvm_probe works in a build without the kvm driver")
    usable, detail = qv.kvm_probe()
    if not os.path.exists("/dev/kvm"):
        assert not usable
        assert detail.startswith("KVM is not available: /dev/kvm does not exist"), detail
    elif usable:
        assert detail.startswith("KVM API version 12"), detail
    else:
        assert detail


def test_host_info_fake_root(tmp_path):
    (tmp_path / "sys/kernel/iommu_groups/4").mkdir(parents=True)
    (tmp_path / "sys/module/vfio").mkdir(parents=True)
    info = qv.host_info(tmp_path)
    assert info["iommu_groups"] == {"ok": True, "summary": "1 group", "count": 1}
    assert info["vfio_modules"]["modules"] == {"vfio": True, "vfio_pci": False,
                                               "vfio_iommu_type1": False}
    assert info["vfio_modules"]["hint"].startswith("modprobe vfio-pci")
    assert info["hugetlbfs"] == {"ok": False, "summary": "not mounted", "mounts": [],
                                 "hint": info["hugetlbfs"]["hint"]}


def test_host_pci_list_fake_root(tmp_path):
    dev = tmp_path / "sys/devices/pci0000:00/0000:03:00.0"
    dev.mkdir(parents=True)
    for name, value in (("vendor", "0x8086"), ("device", "0x1533"), ("class", "0x020000")):
        (dev / name).write_text(value + "\n")
    (tmp_path / "sys/bus/pci/devices").mkdir(parents=True)
    os.symlink(dev, tmp_path / "sys/bus/pci/devices/0000:03:00.0")
    out = qv.host_pci_list(str(tmp_path))
    assert out["iommu"] is False
    assert out["devices"] == [{"bdf": "0000:03:00.0", "vendor_id": "8086", "device_id": "1533",
                               "vendor": None, "device": None, "class": "020000",
                               "iommu_group": None, "driver": None, "in_host_use": False}]
    assert qv.host_pci_list(str(tmp_path), available=True)["devices"] == []
