"""kvm:///embed through the Python layer: guests made of a few bytes of
real-mode code, driven at register level, and the hello payload booted as
a whole VM. Skipped, with the reason, when /dev/kvm or the kvm driver is
missing."""

import glob
import os
import threading

import pytest

import qv

from conftest import BUILD_DIR, require_kvm

LOAD = 0x1000
CONSOLE = 0xe9
EXIT = 0xf4


@pytest.fixture
def kvm():
    require_kvm()
    with qv.connect("kvm:///embed") as conn:
        yield conn


def guest(conn, name, code, ram=1 * qv.MiB):
    vm = conn.create_vm(name, vcpus=1, memory=ram)
    vm.write_memory(LOAD, bytes(code))
    cpu = vm.vcpu(0)
    cpu.reset(LOAD)
    return vm, cpu


def run_until_exit_port(cpu, limit=10000):
    """Run, collecting console bytes, until the guest writes the exit port."""
    out = bytearray()
    watchdog = threading.Timer(60, cpu.kick)
    watchdog.start()
    try:
        for _ in range(limit):
            ex = cpu.run()
            if ex.reason is qv.ExitReason.IO and ex.io.port == CONSOLE:
                out += ex.io.data
                continue
            if ex.reason is qv.ExitReason.IO and ex.io.port == EXIT:
                return bytes(out), ex.io.value
            if ex.reason is qv.ExitReason.SHUTDOWN and ex.shutdown.debug_exit_value is not None:
                return bytes(out), ex.shutdown.debug_exit_value
            raise AssertionError("unexpected exit %r after output %r" % (ex, bytes(out)))
    finally:
        watchdog.cancel()
    raise AssertionError("the guest never reached its exit port")


HELLO = [0xbe, (LOAD + 17) & 0xff, (LOAD + 17) >> 8,  # mov si, msg
         0xac,                                         # lodsb
         0x84, 0xc0,                                   # test al, al
         0x74, 0x04,                                   # jz done
         0xe6, CONSOLE,                                # out 0xe9, al
         0xeb, 0xf7,                                   # jmp lodsb
         0xb0, 0x2a,                                   # done: mov al, 42
         0xe6, EXIT,                                   # out 0xf4, al
         0xf4] + list(b"hi from python\n\0")


def test_register_level_guest_prints(kvm):
    vm, cpu = guest(kvm, "py-hello", HELLO)
    out, status = run_until_exit_port(cpu)
    assert out == b"hi from python\n"
    assert status == 42
    vm.destroy()


def test_memory_the_guest_wrote_is_readable(kvm):
    # rep movsb 8 bytes from 0x2000 to 0x3000, then exit
    code = [0xbe, 0x00, 0x20, 0xbf, 0x00, 0x30, 0xb9, 0x08, 0x00, 0xf3, 0xa4,
            0xe6, EXIT, 0xf4]
    vm, cpu = guest(kvm, "py-copy", code)
    vm.write_memory(0x2000, b"qv-bytes")
    assert vm.read_memory(0x3000, 8) == bytes(8)
    run_until_exit_port(cpu)
    assert vm.read_memory(0x3000, 8) == b"qv-bytes"
    with pytest.raises(qv.OutOfRangeError):
        vm.read_memory(qv.MiB - 2, 4)


def test_single_step_visits_each_instruction(kvm):
    code = [0x31, 0xc0, 0xb9, 0x03, 0x00, 0x01, 0xc8, 0xe2, 0xfc, 0xe6, EXIT, 0xf4]
    vm, cpu = guest(kvm, "py-step", code)
    seen = []
    for _ in range(50):
        seen.append(cpu.sregs.cs.base + cpu.regs.rip)
        ex = cpu.step()
        if ex.reason is qv.ExitReason.IO and ex.io.port == EXIT:
            break
        assert ex.reason is qv.ExitReason.DEBUG, ex
    loop = [LOAD + 5, LOAD + 7]
    assert seen == [LOAD, LOAD + 2] + loop * 3 + [LOAD + 9]
    assert cpu.regs.rax & 0xffff == 6


def test_injected_interrupt_is_reported_by_the_guest(kvm):
    # main: sti; spin. Handlers for 0x40 and 0x41 report their vector.
    main = [0xbc, 0x00, 0x80,  # mov sp, 0x8000
            0xfb,              # sti
            0xeb, 0xfe]        # jmp $
    vm, cpu = guest(kvm, "py-irq", main)
    for vector, handler in ((0x40, 0x1100), (0x41, 0x1200)):
        vm.write_memory(handler, bytes([0xb0, vector, 0xe6, CONSOLE, 0xcf]))  # mov al; out; iret
        vm.write_memory(vector * 4, handler.to_bytes(2, "little") + b"\0\0")
    cpu.queue_interrupt(0x41)
    watchdog = threading.Timer(60, cpu.kick)
    watchdog.start()
    try:
        ex = cpu.run()
    finally:
        watchdog.cancel()
    assert ex.reason is qv.ExitReason.IO, ex
    assert (ex.io.port, ex.io.data) == (CONSOLE, b"\x41")


def test_port_input_is_answered_from_python(kvm):
    code = [0xe4, 0x60,          # in al, 0x60
            0xe6, CONSOLE,       # out 0xe9, al
            0xe6, EXIT, 0xf4]    # out 0xf4, al
    vm, cpu = guest(kvm, "py-in", code)
    ex = cpu.run()
    assert ex.reason is qv.ExitReason.IO, ex
    assert (ex.io.port, ex.io.direction, ex.io.size) == (0x60, qv.IODirection.IN, 1)
    ex.io.respond(0x5a)
    out, _ = run_until_exit_port(cpu)
    assert out == b"\x5a"
    with pytest.raises(qv.InvalidStateError, match="stale"):
        ex.io.respond(1)


def test_kick_interrupts_a_spinning_guest(kvm):
    vm, cpu = guest(kvm, "py-kick", [0xeb, 0xfe])
    t = threading.Timer(0.2, cpu.kick)
    t.start()
    ex = cpu.run()
    t.join()
    assert ex.reason is qv.ExitReason.INTR


def find_payload(name):
    hits = sorted(glob.glob(os.path.join(BUILD_DIR, "tests", "guests", name + "*")))
    hits = [h for h in hits if os.path.isfile(h) and not h.endswith((".c", ".o", ".S", ".d"))]
    return hits[0] if hits else None


def test_hello_payload_boots(kvm, tmp_path):
    payload = find_payload("hello")
    if not payload:
        pytest.skip("the hello payload is not built in %s/tests/guests"
                    % (BUILD_DIR or "$QV_BUILD_DIR"))
    log = tmp_path / "console.log"
    vm = kvm.define_xml("""<domain type='kvm'>
  <name>py-payload</name>
  <memory unit='MiB'>16</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type><kernel>%s</kernel></os>
  <devices><serial type='file'><source path='%s'/><target port='0'/></serial></devices>
</domain>""" % (payload, log))
    vm.start()
    info = vm.wait(timeout=120)
    assert info.state is qv.State.STOPPED
    assert b"Hello" in log.read_bytes() or b"hello" in log.read_bytes()
    vm.destroy()
