"""Host facts: what the host offers VMs, and its PCI devices."""

import json as _json

from ._native import encode, ffi, lib
from .errors import check

HOST_PCI_AVAILABLE = lib.QV_HOST_PCI_AVAILABLE


def _root(root):
    return ffi.NULL if root is None else encode(str(root), "root")


def _take_json(out):
    try:
        return _json.loads(ffi.string(out[0]).decode())
    finally:
        lib.qv_free(out[0])


def kvm_probe():
    """Whether the in-tree VMM can use KVM here, by ioctl on /dev/kvm:
    (True, detail) or (False, why and what to do)."""
    detail = ffi.new("char **")
    rc = lib.qv_kvm_probe(detail)
    check(rc)
    try:
        return (rc == 1, ffi.string(detail[0]).decode())
    finally:
        lib.qv_free(detail[0])


def host_info(root=None):
    """The host's facts as a dict ({"iommu_groups": {"ok": ..., "summary":
    ..., "hint": ...}, ...}); root: where /sys, /proc and /usr/share are read
    (None: $QV_SYSFS_ROOT, else /)."""
    out = ffi.new("char **")
    check(lib.qv_host_info(_root(root), out))
    return _take_json(out)


def host_pci_list(root=None, available=False):
    """The host's PCI devices: {"iommu": bool, "pci_ids": bool, "devices":
    [...]}; available=True keeps only devices whose IOMMU group has no
    device in host use."""
    out = ffi.new("char **")
    check(lib.qv_host_pci_list(_root(root), HOST_PCI_AVAILABLE if available else 0, out))
    return _take_json(out)
