"""The Pythonic layer against the noop driver, in memory and in a state
directory (the `noop` fixture runs each test on both)."""

import datetime
import gc
import json
import os
import threading

import pytest

import qv

XML = """<domain type='test'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>2</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
</domain>
"""


def test_connection_describes_itself(noop):
    assert noop.driver == "noop"
    assert noop.uri.startswith("noop:")
    assert not noop.closed
    assert noop.list_vms() == []


def test_create_and_inspect(noop):
    vm = noop.create_vm("web01", vcpus=2, memory=128 * qv.MiB)
    assert vm.name == "web01"
    assert vm.state is qv.State.CREATED
    assert str(vm.state) == "created"
    info = vm.info
    assert (info.vcpus, info.memory, info.max_memory) == (2, 128 * qv.MiB, 128 * qv.MiB)
    assert len(vm.uuid) == 36 and vm.uuid.count("-") == 4
    assert "<name>web01</name>" in vm.xml
    assert vm.config["name"] == "web01"


def test_lifecycle_follows_the_state_table(noop):
    vm = noop.create_vm("life", vcpus=1, memory=64 * qv.MiB)
    vm.start()
    assert vm.state is qv.State.RUNNING
    vm.pause()
    assert vm.state is qv.State.PAUSED
    with pytest.raises(qv.InvalidStateError) as e:
        vm.pause()
    assert str(e.value) == "cannot pause VM 'life': it is paused"
    assert e.value.code == qv.InvalidStateError.code
    vm.resume()
    vm.reset()
    assert vm.state is qv.State.RUNNING
    vm.stop()
    assert vm.state is qv.State.STOPPED
    assert vm.info.reason is qv.Reason.USER
    with pytest.raises(qv.InvalidStateError, match="cannot resume VM 'life': it is stopped"):
        vm.resume()
    vm.start()
    vm.stop(force=True, timeout=0)
    assert vm.state is qv.State.STOPPED
    with pytest.raises(ValueError):
        vm.stop(timeout=-5)


def test_wait_times_out_then_returns_after_stop(noop):
    vm = noop.create_vm("waiter", vcpus=1, memory=64 * qv.MiB)
    vm.start()
    with pytest.raises(qv.TimeoutExpiredError):
        vm.wait(timeout=0.05)
    other = noop.lookup("waiter")
    t = threading.Timer(0.1, other.stop)
    t.start()
    info = vm.wait(timeout=10)
    t.join()
    assert info.state is qv.State.STOPPED


def test_lookup_list_and_names(noop):
    for n in ("b", "a", "c"):
        noop.create_vm(n)
    assert noop.vm_names() == ["a", "b", "c"]
    assert [vm.name for vm in noop.list_vms()] == ["a", "b", "c"]
    assert "b" in noop
    vm = noop.lookup("b")
    assert vm is noop.lookup("b"), "one Python object per live handle"
    with pytest.raises(qv.NotFoundError) as e:
        noop.lookup("zz")
    assert "zz" in str(e.value)
    with pytest.raises(qv.ExistsError, match="'a'"):
        noop.create_vm("a")
    with pytest.raises(qv.InvalidArgumentError):
        noop.create_vm("bad/name")
    with pytest.raises(qv.InvalidArgumentError, match="at least one vCPU"):
        noop.create_vm("novcpu", vcpus=0)


def test_define_xml(noop):
    vm = noop.define_xml(XML.format(name="fromxml"))
    assert vm.info.vcpus == 2 and vm.info.memory == 64 * qv.MiB
    with pytest.raises(qv.XMLError) as e:
        noop.define_xml("<domain type='test'><name>x</name><bogus/></domain>")
    assert str(e.value) == "domain XML line 1: <domain> needs a <memory>"
    with pytest.raises(qv.XMLError):
        noop.define_xml("<domain")


def test_define_json(noop):
    vm = noop.define_json({"name": "fromjson", "vcpus": 2, "memory": "64M"})
    assert vm.name == "fromjson"
    assert (vm.info.vcpus, vm.info.memory) == (2, 64 * qv.MiB)
    assert vm.config["name"] == "fromjson"
    vm2 = noop.define_json('{"name": "fromjsontext", "vcpus": 1, "memory": 67108864}')
    assert vm2.info.memory == 64 * qv.MiB
    # the definition round-trips through its own JSON; a copy under another
    # name needs its own UUID (one UUID names one VM), so drop it
    vm.destroy()
    cfg = json.loads(vm2.json)
    with pytest.raises(qv.ExistsError, match="already has UUID"):
        noop.define_json(dict(cfg, name="roundtrip"))
    del cfg["uuid"]
    again = noop.define_json(dict(cfg, name="roundtrip"))
    assert again.config["memory"] == vm2.config["memory"] and again.info.vcpus == 1
    assert again.uuid != vm2.uuid
    with pytest.raises(qv.JSONError) as e:
        noop.define_json('{"name": ')
    assert e.value.code == qv.JSONError.code
    with pytest.raises(qv.JSONError, match=r"\$\.vcpus"):
        noop.define_json({"name": "badvcpus", "vcpus": "two", "memory": "64M"})
    with pytest.raises(TypeError):
        noop.define_json(42)
    assert "badvcpus" not in noop


def test_destroy_consumes_the_handle(noop):
    vm = noop.create_vm("gone")
    vm.start()
    vm.destroy()
    assert vm.closed
    assert "gone" not in noop.vm_names()
    with pytest.raises(qv.InvalidStateError, match="destroyed"):
        vm.start()
    with pytest.raises(qv.InvalidStateError):
        vm.destroy()
    del vm
    gc.collect()  # nothing left for the collector to free twice
    again = noop.create_vm("gone")  # the name is free again
    assert again.state is qv.State.CREATED


def test_objects_of_one_vm_share_destroy(noop):
    a = noop.create_vm("shared")
    b = noop.lookup("shared")
    assert a is b
    vcpu = a.vcpu(0)
    a.destroy()
    with pytest.raises(qv.InvalidStateError):
        vcpu.regs


def test_close_and_collect_release_handles(noop):
    for i in range(200):
        vm = noop.create_vm("tmp%d" % i)
        if i % 2:
            vm.close()
            assert vm.closed
            with pytest.raises(qv.InvalidStateError, match="closed"):
                vm.state
        del vm
    gc.collect()
    assert len(noop.vm_names()) == 200
    for vm in noop.list_vms():
        vm.destroy()
    assert noop.vm_names() == []


def test_connection_close_closes_its_vms(noop):
    conn = qv.connect(noop.uri)
    vm = conn.create_vm("conn-close")
    with conn:
        pass
    assert conn.closed and vm.closed
    with pytest.raises(qv.InvalidStateError):
        conn.lookup("conn-close")
    with pytest.raises(qv.InvalidStateError):
        vm.start()
    conn.close()  # twice is harmless


def test_clone(noop):
    src = noop.create_vm("src", vcpus=2)
    src.write_memory(0x1000, b"cloned bytes")
    dst = src.clone("dst")
    assert dst.name == "dst" and dst.state is qv.State.CREATED
    assert dst.uuid != src.uuid
    assert dst.info.vcpus == 2
    with pytest.raises(qv.ExistsError):
        src.clone("dst")
    with pytest.raises(qv.InvalidArgumentError):
        src.clone("../escape")


def test_snapshots(noop):
    vm = noop.create_vm("snappy")
    vm.write_memory(0x2000, b"before")
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    snap = vm.snapshots.create("s1")
    assert snap.name == "s1" and snap.state is qv.State.CREATED
    assert isinstance(snap.created, datetime.datetime)
    assert abs((snap.created - before).total_seconds()) < 60
    assert isinstance(snap.size, int)
    vm.write_memory(0x2000, b"after!")
    vm.start()
    vm.snapshots.create("s2")
    assert [s.name for s in vm.snapshots.list()] == ["s1", "s2"]
    assert len(vm.snapshots) == 2 and "s2" in vm.snapshots
    with pytest.raises(qv.ExistsError):
        vm.snapshots.create("s1")
    vm.snapshots.restore("s1")
    assert vm.state is qv.State.CREATED
    assert vm.read_memory(0x2000, 6) == b"before"
    vm.snapshots.delete("s1")
    assert [s.name for s in vm.snapshots] == ["s2"]
    with pytest.raises(qv.NotFoundError):
        vm.snapshots.restore("s1")
    vm.snapshots.list()[0].delete()
    assert len(vm.snapshots) == 0
    # noop runs no jobs: progress= is accepted and never called.
    heard = []
    vm.snapshots.create("s3", progress=heard.append)
    vm.snapshots.restore("s3", progress=heard.append)
    vm.snapshots.delete("s3", progress=heard.append)
    assert heard == [] and len(vm.snapshots) == 0


def test_memory(noop):
    vm = noop.create_vm("mem", memory=1 * qv.MiB)
    vm.write_memory(0x100, b"\x01\x02\x03hello")
    assert vm.read_memory(0x100, 8) == b"\x01\x02\x03hello"
    vm.write_memory(0x200, bytearray(b"ba"))
    vm.write_memory(0x300, memoryview(b"mv"))
    assert vm.read_memory(0x200, 2) == b"ba" and vm.read_memory(0x300, 2) == b"mv"
    assert vm.read_memory(0, 0) == b""
    with pytest.raises(qv.OutOfRangeError):
        vm.read_memory(qv.MiB - 4, 8)
    with pytest.raises(qv.OutOfRangeError):
        vm.write_memory(2 * qv.MiB, b"x")
    vm.add_memory_region(0x1000_0000, 0x1000)
    vm.write_memory(0x1000_0000, b"region")
    assert vm.read_memory(0x1000_0000, 6) == b"region"
    with pytest.raises(qv.InvalidArgumentError):
        vm.add_memory_region(0x1000_0001, 0x1000)


def test_vcpu_registers(noop):
    vm = noop.create_vm("regs", vcpus=2)
    cpu = vm.vcpu(0)
    assert cpu is vm.vcpu(0) and cpu.id == 0
    cpu.reset(0x7c00)
    regs = cpu.regs
    assert regs.rflags == 0x2
    assert cpu.sregs.cs.base + regs.rip == 0x7c00
    regs.rax = 0x1234  # bound: writes through
    assert cpu.regs.rax == 0x1234
    assert cpu.get_reg("rax") == 0x1234
    cpu.set_reg("rbx", 7)
    assert cpu.regs.rbx == 7
    new = qv.Regs(rip=0x1000, rsp=0x8000, rflags=0x202)
    cpu.regs = new
    assert cpu.regs == new
    cpu.regs = {"rip": 0x2000, "rflags": 2}
    assert cpu.regs.rip == 0x2000 and cpu.regs.rax == 0
    copy = cpu.regs.copy()
    copy.rip = 0x3000  # unbound: the vCPU keeps its value
    assert cpu.regs.rip == 0x2000
    with pytest.raises(AttributeError):
        cpu.regs.eax = 1
    with pytest.raises(ValueError):
        cpu.regs.rax = -1
    with pytest.raises(ValueError):
        cpu.get_reg("xyz")

    s = cpu.sregs
    s.cr0 = s.cr0 | 1
    assert cpu.sregs.cr0 & 1
    s.cs.base = 0x10000  # a nested field writes through too
    assert cpu.sregs.cs.base == 0x10000
    copy = cpu.sregs.copy()
    copy.efer = 0x500
    cpu.sregs = copy
    assert cpu.sregs.efer == 0x500

    cpu.set_msr(0xc0000080, 0x500)
    assert cpu.get_msr(0xc0000080) == 0x500
    assert vm.vcpu(1).id == 1
    with pytest.raises(qv.InvalidArgumentError):
        vm.vcpu(5)
    with pytest.raises(qv.ExistsError):
        vm.add_vcpu(1)


def test_vcpu_run_and_events(noop):
    vm = noop.create_vm("events")
    cpu = vm.vcpu(0)
    cpu.reset(0)
    assert cpu.run().reason is qv.ExitReason.HLT
    cpu.kick()
    assert cpu.run().reason is qv.ExitReason.INTR
    cpu.queue_interrupt(0x40)
    ex = cpu.run()
    assert ex.reason is qv.ExitReason.SYSTEM_EVENT
    assert ex.system_event == (1, 0x40)
    cpu.inject_gp(0x10)
    ex = cpu.run()
    assert ex.system_event == (2, 13 | 1 << 8 | 0x10 << 32)
    cpu.inject_ud()
    assert cpu.run().system_event == (2, 6)
    cpu.inject_pf(0xdead000, 2)
    assert cpu.run().system_event == (2, 14 | 1 << 8 | 2 << 32)
    assert cpu.sregs.cr2 == 0xdead000
    cpu.queue_nmi()
    assert cpu.run().system_event[0] == 3
    cpu.queue_exception(3)
    assert cpu.run().system_event == (2, 3)
    with pytest.raises(qv.InvalidArgumentError, match="exception vector"):
        cpu.queue_interrupt(8)
    with pytest.raises(ValueError):
        cpu.queue_interrupt(300)
    assert cpu.step().reason in (qv.ExitReason.DEBUG, qv.ExitReason.HLT)
    cpu.destroy()
    with pytest.raises(qv.InvalidStateError):
        cpu.run()


def test_settings(noop):
    vm = noop.create_vm("tuned", vcpus=2)
    vm.set_cpu_pin(1, 0)
    assert vm.get_cpu_pin(1) == 0 and vm.get_cpu_pin(0) is None
    vm.set_cpu_pin(1, None)
    assert vm.get_cpu_pin(1) is None
    vm.set_cpu_pin_spread()
    allowed = sorted(os.sched_getaffinity(0))
    assert [vm.get_cpu_pin(i) for i in range(2)] == [allowed[i % len(allowed)] for i in range(2)]
    vm.set_cpu_pin_auto()  # scheduler-managed again: no pin left
    assert [vm.get_cpu_pin(i) for i in range(2)] == [None, None]
    with pytest.raises(qv.NotFoundError):
        vm.get_cpu_pin(9)
    vm.set_cpu_weight(512)
    with pytest.raises(qv.InvalidArgumentError, match="1-65535"):
        vm.set_cpu_weight(0)
    vm.set_cpu_cap(50)
    with pytest.raises(qv.InvalidArgumentError):
        vm.set_cpu_cap(101)
    vm.set_vcpus(1)
    assert vm.info.vcpus == 1
    vm.set_memory(32 * qv.MiB)
    assert vm.info.memory == 32 * qv.MiB


def test_handles_survive_threads(noop):
    vm = noop.create_vm("threads")
    errors = []

    def worker():
        try:
            for _ in range(50):
                assert noop.lookup("threads").name == "threads"
                noop.lookup("threads").info
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    ts = [threading.Thread(target=worker) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    assert vm.state is qv.State.CREATED


def test_default_connection_create(monkeypatch, tmp_path):
    from conftest import require_driver
    require_driver("noop")
    monkeypatch.setenv("QV_DEFAULT_URI", "noop://" + str(tmp_path))
    vm = qv.create_vm("defaulted", vcpus=1, memory=64 * qv.MiB)
    assert vm.state is qv.State.CREATED
    with qv.connect() as conn:
        assert conn.uri.startswith("noop:") and conn.vm_names() == ["defaulted"]
    vm.destroy()


def test_collector_does_not_eat_a_pending_error(noop):
    vm = noop.create_vm("cycle")
    vm.self_ref = vm  # only the cycle collector can free it
    del vm
    with pytest.raises(qv.NotFoundError):
        noop.lookup("nosuch")
    # vm_free (run by the collector) would clear the thread's error slot;
    # the bindings hold the free back while an error is pending.
    gc.collect()
    err = qv._lib.qv_last_error()
    assert err.code == qv.NotFoundError.code
    assert b"nosuch" in qv._ffi.string(err.message)
    assert noop.lookup("cycle").name == "cycle"  # the next call frees it


def test_dropping_the_last_reference_frees_at_once(noop):
    gc.disable()  # no help from the cycle collector
    try:
        vm = noop.create_vm("prompt")
        cpu = vm.vcpu(0)
        snaps = vm.snapshots
        assert len(noop._vms) == 1
        del vm, snaps
        assert len(noop._vms) == 1, "a vCPU keeps its VM alive"
        del cpu
        assert len(noop._vms) == 0, "VM objects must not sit in reference cycles"
    finally:
        gc.enable()
