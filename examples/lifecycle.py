#!/usr/bin/python3
"""The VM lifecycle on any driver, from Python.

    lifecycle.py [URI] [NAME]        e.g. lifecycle.py noop:///

Needs the qv package (bindings/python) on PYTHONPATH and libqv.so.1 (or
$QV_LIBRARY).
"""

import sys

import qv


def main():
    uri = sys.argv[1] if len(sys.argv) > 1 else "noop:///"
    name = sys.argv[2] if len(sys.argv) > 2 else "lifecycle-demo"
    with qv.connect(uri) as conn:
        print("connected to %s (driver %s)" % (conn.uri, conn.driver))
        vm = conn.create_vm(name, vcpus=1, memory=64 * qv.MiB)
        try:
            print("%-8s -> %s" % ("create", vm.state))
            steps = [("start", vm.start), ("pause", vm.pause), ("resume", vm.resume),
                     # ask the guest to power off; force it after 5 s
                     ("stop", lambda: vm.stop(timeout=5))]
            for name, step in steps:
                step()
                print("%-8s -> %s" % (name, vm.state))
            try:
                vm.pause()
            except qv.InvalidStateError as e:
                print("pause    -> refused: %s" % e)
        finally:
            vm.destroy()
        print("destroy  -> gone")


if __name__ == "__main__":
    try:
        main()
    except qv.Error as e:
        sys.exit("lifecycle.py: %s (%s)" % (e, qv.strerror(e.code)))
