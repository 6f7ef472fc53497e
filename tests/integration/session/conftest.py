"""Shared by the kvm:///session tests."""
import json
import os
import signal
from pathlib import Path


def kill_left_vmms(root):
    """SIGKILL every qv-vmm that a runtime.json under root/kvm names and
    that still runs: whatever a failed test left running goes with it."""
    for rt in Path(root).glob("kvm/*/runtime.json"):
        try:
            pid = json.loads(rt.read_text())["pid"]
            if "qv-vmm" in Path(f"/proc/{pid}/cmdline").read_text():
                os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, KeyError):
            pass
