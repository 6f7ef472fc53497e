"""A fake host tree for QV_SYSFS_ROOT / --sysfs-root: the files and
symlinks libqv reads under /sys, /proc and /usr/share, laid out as Linux
lays them out."""

import os


class FakeHost:
    def __init__(self, root):
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)

    def path(self, rel):
        return os.path.join(self.root, rel.lstrip("/"))

    def write(self, rel, text):
        p = self.path(rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        return p

    def mkdir(self, rel):
        os.makedirs(self.path(rel), exist_ok=True)
        return self.path(rel)

    def driver_dir(self, name):
        d = self.mkdir("/sys/bus/pci/drivers/%s" % name)
        for f in ("bind", "unbind"):
            if not os.path.lexists(os.path.join(d, f)):
                open(os.path.join(d, f), "w").close()
        return d

    def add_pci(self, bdf, vendor, device, cls, group=None, driver=None):
        """A PCI function: its directory under /sys/devices, the
        /sys/bus/pci/devices link, its IOMMU group and driver links."""
        dev = self.mkdir("/sys/devices/pci0000:00/%s" % bdf)
        for name, value in (("vendor", "0x%04x" % vendor), ("device", "0x%04x" % device),
                            ("class", "0x%06x" % cls), ("driver_override", "(null)")):
            with open(os.path.join(dev, name), "w") as f:
                f.write(value + "\n")
        self.mkdir("/sys/bus/pci/devices")
        os.symlink(dev, self.path("/sys/bus/pci/devices/%s" % bdf))
        if not os.path.exists(self.path("/sys/bus/pci/drivers_probe")):
            self.write("/sys/bus/pci/drivers_probe", "")
        if group is not None:
            gdir = self.mkdir("/sys/kernel/iommu_groups/%d/devices" % group)
            os.symlink(dev, os.path.join(gdir, bdf))
            os.symlink(os.path.dirname(gdir), os.path.join(dev, "iommu_group"))
        if driver is not None:
            os.symlink(self.driver_dir(driver), os.path.join(dev, "driver"))
        return dev

    def driver_of(self, bdf):
        link = self.path("/sys/bus/pci/devices/%s/driver" % bdf)
        return os.path.basename(os.readlink(link)) if os.path.lexists(link) else None
