#!/usr/bin/env python3
"""What qcow2 through QEMU's own tooling would add to a kvm VM's start: the
time from spawning qemu-storage-daemon to its NBD export greeting a client
(NBDMAGIC) on a unix socket, and its shutdown, against spawning /bin/true,
interleaved, medians. The kvm driver refuses qcow2 on this measurement
(docs/architecture.md, "qcow2 on the kvm driver").

Usage: bench/qcow2_nbd_start.py [RUNS]"""
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def wait_greeting(path):
    while True:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(path)
                if s.recv(8) == b"NBDMAGIC":
                    return
        except OSError:
            time.sleep(0.0002)


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    with tempfile.TemporaryDirectory(prefix="qv-qsd-") as d:
        img = os.path.join(d, "t.qcow2")
        sock = os.path.join(d, "nbd.sock")
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", img, "64M"], check=True)
        ready, stop, true = [], [], []
        for _ in range(runs):
            t0 = time.monotonic()
            subprocess.run(["/bin/true"], check=True)
            true.append(time.monotonic() - t0)
            if os.path.exists(sock):
                os.unlink(sock)
            t0 = time.monotonic()
            p = subprocess.Popen(
                ["qemu-storage-daemon",
                 "--blockdev", f"driver=file,node-name=f,filename={img}",
                 "--blockdev", "driver=qcow2,node-name=q,file=f",
                 "--nbd-server", f"addr.type=unix,addr.path={sock}",
                 "--export", "type=nbd,id=e,node-name=q,writable=on"],
                stderr=subprocess.DEVNULL)
            wait_greeting(sock)
            t1 = time.monotonic()
            p.terminate()
            p.wait()
            ready.append(t1 - t0)
            stop.append(time.monotonic() - t1)
    ms = lambda v: "%.1f ms (min %.1f, max %.1f)" % (
        statistics.median(v) * 1e3, min(v) * 1e3, max(v) * 1e3)
    print(f"{runs} runs, medians")
    print("spawn /bin/true to exit:                 ", ms(true))
    print("qemu-storage-daemon spawn to NBD greeting:", ms(ready))
    print("qemu-storage-daemon SIGTERM to exit:      ", ms(stop))


if __name__ == "__main__":
    main()
