"""vm_get_stats through the Python layer: the noop driver, and the qemu
driver against a scripted QMP peer standing in for QEMU, so that what a
malformed reply does can be shown (QMP replies are peer input). The stats
of a real QEMU guest are tested in tests/integration/qemu/test_stats.py."""

import json
import os
import shutil
import socket
import subprocess
import threading

import pytest

import qv

from conftest import require_driver


def test_noop_reports_state_and_sizes(noop):
    vm = noop.create_vm("py-stats", vcpus=2, memory=64 * qv.MiB)
    try:
        expected = {"state.state": int(qv.State.CREATED), "state.reason": 0,
                    "balloon.current": 65536, "balloon.maximum": 65536,
                    "vcpu.current": 2, "vcpu.maximum": 2}
        assert vm.stats() == expected
        assert list(vm.stats()) == list(expected)  # virsh's order
        vm.start()
        # noop runs no guest code: no CPU time, no devices to count.
        assert vm.stats() == dict(expected, **{"state.state": int(qv.State.RUNNING)})
    finally:
        vm.destroy()


GREETING = {"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7},
                                "package": "fake"}, "capabilities": []}}


class FakeQemu:
    """A process that passes for the VM's QEMU (a sleeping child recorded in
    runtime.json, run from a copy of sleep named as QEMU is, since the
    driver adopts only a process running a QEMU binary) and a QMP server on
    its status.sock answering from self.replies (command name -> the
    "return" value, or a callable)."""

    def __init__(self, vmdir):
        fake_bin = vmdir.parent / "qemu-system-x86_64"
        if not fake_bin.exists():
            shutil.copy(shutil.which("sleep"), fake_bin)
        self.child = subprocess.Popen([str(fake_bin), "600"])
        pid = self.child.pid
        # Until the exec the child still shows Python's command line.
        cmdline = ""
        while cmdline != f"{fake_bin} 600":
            cmdline = open(f"/proc/{pid}/cmdline").read().replace("\0", " ").strip()
        start = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[19])
        (vmdir / "runtime.json").write_text(json.dumps(
            {"pid": pid, "start_time": start, "cmdline": cmdline}))
        self.replies = {"query-status": {"status": "running", "running": True},
                        "query-cpus-fast": [{"cpu-index": 0, "thread-id": pid}],
                        "query-balloon": None,
                        "query-blockstats": [{"device": "", "qdev": "/machine/peripheral/vda/"
                                              "virtio-backend",
                                              "stats": {"rd_operations": 3, "rd_bytes": 12288,
                                                        "wr_operations": 1, "wr_bytes": 512}}],
                        "query-block": [{"device": "", "qdev": "/machine/peripheral/vda/"
                                         "virtio-backend",
                                         "inserted": {"bps": 1000, "iops": 0}}]}
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(vmdir / "status.sock"))
        self.sock.listen(8)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, conn.makefile("rwb") as f:
                f.write(json.dumps(GREETING).encode() + b"\r\n")
                f.flush()
                for line in f:
                    cmd = json.loads(line)
                    name = cmd["execute"]
                    reply = {"return": {}} if name == "qmp_capabilities" else None
                    if reply is None:
                        r = self.replies.get(name)
                        reply = ({"error": {"class": "GenericError",
                                            "desc": "No balloon device has been activated"}}
                                 if r is None else {"return": r})
                    reply["id"] = cmd.get("id")
                    f.write(json.dumps(reply).encode() + b"\r\n")
                    f.flush()

    def close(self):
        self.sock.close()
        self.child.kill()
        self.child.wait()


@pytest.fixture
def fake(tmp_path):
    require_driver("qemu")
    state = tmp_path / "state"
    disk = tmp_path / "disk.raw"
    disk.write_bytes(b"\0" * 65536)
    with qv.connect(f"qemu:///session?root={state}") as conn:
        vm = conn.define_xml(f"""<domain type='qemu'><name>py-fake</name>
  <memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><source file='{disk}'/><target dev='vda' bus='virtio'/></disk>
    <interface type='user'><model type='virtio'/></interface>
  </devices></domain>""")
        f = FakeQemu(state / "qemu" / "py-fake")
        try:
            yield vm, f, disk
        finally:
            f.close()


def test_qemu_stats_from_qmp_and_proc(fake):
    vm, f, disk = fake
    s = vm.stats()
    assert s["state.state"] == int(qv.State.RUNNING)
    assert s["vcpu.0.state"] == 1 and s["vcpu.0.time"] >= 0
    assert s["cpu.time"] == s["cpu.user"] + s["cpu.system"]
    assert s["balloon.rss"] > 0
    assert s["balloon.current"] == 65536  # no balloon: the definition's
    assert {k: v for k, v in s.items() if k.startswith("block.")} == {
        "block.count": 1, "block.0.name": "vda", "block.0.path": str(disk),
        "block.0.rd.reqs": 3, "block.0.rd.bytes": 12288,
        "block.0.wr.reqs": 1, "block.0.wr.bytes": 512}
    # A user-mode NIC: QEMU 7.2 has no counters for it, so none are made up.
    assert {k: v for k, v in s.items() if k.startswith("net.")} == {
        "net.count": 1, "net.0.name": "net0"}
    f.replies["query-balloon"] = {"actual": 32 * 1024 * 1024}
    assert vm.stats()["balloon.current"] == 32768


@pytest.mark.parametrize("command,reply,message", [
    ("query-cpus-fast", {"not": "an array"}, "query-cpus-fast reply is malformed: the reply is "
     "not an array"),
    ("query-cpus-fast", [{"cpu-index": 0}], "an entry has no valid thread-id"),
    ("query-cpus-fast", [{"cpu-index": -4, "thread-id": 1}], "an entry has no valid cpu-index"),
    ("query-cpus-fast", [{"cpu-index": 0, "thread-id": 1}], "QEMU names thread 1 for vCPU 0, "
     "which is not one of its threads"),
    ("query-cpus-fast", [{"cpu-index": 0, "thread-id": "x"}], "no valid thread-id"),
    ("query-blockstats", [], "query-blockstats reply has no entry for disk vda"),
    ("query-blockstats", "text", "query-blockstats reply is malformed: not an array"),
    ("query-blockstats", [{"qdev": "/machine/peripheral/vda/virtio-backend"}],
     "disk vda has no rd_operations count"),
    ("query-blockstats", [{"qdev": "/machine/peripheral/vda", "stats": {"rd_operations": -1}}],
     "disk vda has no rd_operations count"),
    ("query-balloon", {"actual": "lots"}, "query-balloon reply is malformed: no 'actual' size"),
])
def test_malformed_qmp_replies_are_clear_errors(fake, command, reply, message):
    vm, f, _ = fake
    f.replies[command] = reply
    with pytest.raises(qv.ProtocolError) as e:
        vm.stats()
    assert message in str(e.value) and "py-fake" in str(e.value)


def test_qemu_live_settings_from_threads_and_qmp(fake):
    vm, f, _ = fake
    pid = f.child.pid
    assert vm.live_settings() == {
        "vcpu.0.cpus": _cpuset(os.sched_getaffinity(pid)),
        "block.0.name": "vda", "block.0.bytes_sec": 1000, "block.0.iops_sec": 0}
    # The balloon's actual size once QEMU has one (the fake starts without).
    f.replies["query-balloon"] = {"actual": 48 * 1024 * 1024}
    assert vm.live_settings()["balloon.current"] == 48 * 1024
    f.replies["query-balloon"] = {"actual": "lots"}
    with pytest.raises(qv.ProtocolError) as e:
        vm.live_settings()
    assert "query-balloon reply is malformed: no 'actual' size" in str(e.value)


def _cpuset(cpus):
    out, cpus = [], sorted(cpus)
    while cpus:
        start = end = cpus.pop(0)
        while cpus and cpus[0] == end + 1:
            end = cpus.pop(0)
        out.append(str(start) if start == end else "%d-%d" % (start, end))
    return ",".join(out)


@pytest.mark.parametrize("reply,message", [
    ([], "disk vda has no medium"),
    ({"x": 1}, "query-block reply is malformed: not an array"),
    ([{"qdev": "/machine/peripheral/vda", "inserted": {"iops": 0}}], "disk vda has no 'bps'"),
    ([{"qdev": "/machine/peripheral/vda", "inserted": {"bps": 0, "iops": "x"}}],
     "disk vda has no 'iops'"),
])
def test_malformed_query_block_is_a_clear_error(fake, reply, message):
    vm, f, _ = fake
    f.replies["query-block"] = reply
    with pytest.raises(qv.ProtocolError) as e:
        vm.live_settings()
    assert message in str(e.value) and "py-fake" in str(e.value)


def test_a_stopped_vm_has_no_live_settings(tmp_path):
    require_driver("qemu")
    with qv.connect(f"qemu:///session?root={tmp_path}") as conn:
        vm = conn.create_vm("py-idle")
        with pytest.raises(qv.InvalidStateError, match="only its definition applies"):
            vm.live_settings()


@pytest.fixture
def fake_vnc(tmp_path):
    require_driver("qemu")
    state = tmp_path / "state"
    with qv.connect(f"qemu:///session?root={state}") as conn:
        vm = conn.define_xml("""<domain type='qemu'><name>py-vnc</name>
  <memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os>
  <devices><graphics type='vnc' autoport='yes'/></devices></domain>""")
        f = FakeQemu(state / "qemu" / "py-vnc")
        f.replies["query-vnc"] = {"enabled": True, "host": "127.0.0.1", "service": "5901",
                                  "family": "ipv4", "auth": "none", "clients": []}
        try:
            yield vm, f
        finally:
            f.close()


def test_vnc_address_is_qemus(fake_vnc):
    vm, f = fake_vnc
    assert vm.live_settings()["vnc.address"] == "127.0.0.1:5901"
    f.replies["query-vnc"] = dict(f.replies["query-vnc"], host="::1", family="ipv6")
    assert vm.live_settings()["vnc.address"] == "[::1]:5901"


@pytest.mark.parametrize("reply,message", [
    ({"enabled": False}, "QEMU reports no VNC server"),
    ([], "query-vnc reply is malformed"),
    ({"enabled": True, "host": "127.0.0.1"}, "no numeric host and port"),
    ({"enabled": True, "host": "127.0.0.1", "service": "59x"}, "no numeric host and port"),
    ({"enabled": True, "host": "evil\x1b[2J", "service": "5900"}, "no numeric host and port"),
])
def test_malformed_query_vnc_is_a_clear_error(fake_vnc, reply, message):
    vm, f = fake_vnc
    f.replies["query-vnc"] = reply
    with pytest.raises(qv.ProtocolError) as e:
        vm.live_settings()
    assert message in str(e.value) and "py-vnc" in str(e.value)
