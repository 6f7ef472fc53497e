#!/usr/bin/python3
"""List the VMs of a connection as a table.

    list_vms.py [URI]        e.g. list_vms.py noop:///var/tmp/vms

Needs the qv package (bindings/python) on PYTHONPATH and libqv.so.1 (or
$QV_LIBRARY).
"""

import sys

import qv


def human(nbytes):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return "%g %s" % (nbytes, unit)
        nbytes /= 1024


def main():
    uri = sys.argv[1] if len(sys.argv) > 1 else None
    with qv.connect(uri) as conn:
        rows = []
        for vm in conn.list_vms():
            info = vm.info
            rows.append((vm.name, str(info.state), str(info.vcpus), human(info.memory),
                         str(len(vm.snapshots)), info.uuid))
    header = ("NAME", "STATE", "VCPUS", "MEMORY", "SNAPSHOTS", "UUID")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(col.ljust(w) for col, w in zip(row, widths)).rstrip())
    print("%d VM%s on %s" % (len(rows), "" if len(rows) == 1 else "s", conn.uri))


if __name__ == "__main__":
    try:
        main()
    except qv.Error as e:
        sys.exit("list_vms.py: %s" % e)
