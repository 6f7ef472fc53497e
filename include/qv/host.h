/* libqv — facts about the host: what it offers virtual machines, and the
 * PCI devices it could pass through to them.
 *
 * Host files (/sys, /proc, /usr/share/OVMF, /usr/share/misc/pci.ids) are
 * read under a root directory: the root argument when not NULL, else
 * $QV_SYSFS_ROOT, else "/". Tests point it at a fake tree. */
#ifndef QV_HOST_H
#define QV_HOST_H

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/* Whether the in-tree VMM can use KVM here, found by ioctl on /dev/kvm (its
 * API version and every extension libqv needs), never from CPU flags.
 * Returns 1 when usable with *detail describing it ("KVM API version 12"),
 * 0 when not with *detail saying why and what to do, or a negative
 * QV_ERR_* (QV_ERR_UNSUPPORTED in a libqv built without the kvm driver).
 * Free *detail with qv_free. */
int qv_kvm_probe(char **detail);

/* The host's facts as a JSON object, one member per fact ("iommu_groups",
 * "vfio_modules", "hugetlbfs", "hugepages", "cpu_virt_flags", "qemu",
 * "qemu_img", "genisoimage", "ovmf", "cgroup_cpu"), each an object with
 * "ok" (boolean), "summary" (a line for people), "hint" (what to do, when
 * not ok) and members of its own. Free *json with qv_free. */
int qv_host_info(const char *root, char **json);

/* Leave out every device whose IOMMU group holds a device in use by the
 * host (bound to a driver other than vfio-pci or pci-stub), and devices in
 * no IOMMU group. */
#define QV_HOST_PCI_AVAILABLE 0x1u

/* The host's PCI devices as a JSON object {"iommu": bool, "devices": [...]},
 * each device {"bdf", "vendor_id", "device_id", "vendor", "device" (names
 * from pci.ids, or null), "class", "iommu_group" (or null), "driver" (or
 * null), "in_host_use"}, sorted by address. flags: QV_HOST_PCI_*. Free
 * *json with qv_free. */
int qv_host_pci_list(const char *root, unsigned flags, char **json);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
