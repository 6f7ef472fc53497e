"""Run Debian's virt-install in-process against libvirt's embedded QEMU
driver (qemu:///embed?root=DIR), for gen_virtinst_corpus.sh.

Two things the plain /usr/bin/virt-install cannot do there:
- the embedded driver needs an event loop registered before it opens;
- it has no storage driver, so virt-install's storage-pool probing of a
  disk path fails and the path is lost ("Device type 'disk' requires a
  path"). The path is given to libvirt unmanaged instead, which is what
  virt-install does on a connection without storage support.
"""
import os
import sys

sys.path.insert(0, "/usr/share/virt-manager")

import libvirt  # noqa: E402

libvirt.virEventRegisterDefaultImpl()

from virtinst import diskbackend, virtinstall  # noqa: E402


def unmanaged(conn, path):
    return (os.path.abspath(path) if path else None), None, None


diskbackend.manage_path = unmanaged
sys.argv[0] = "virt-install"
virtinstall.runcli()
