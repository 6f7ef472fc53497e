"""kvm:///embed through the Python layer: guests made of a few bytes of
real-mode code, driven at register level, and the hello payload booted as
a whole VM. Skipped, with the reason, when /dev/kvm or the kvm driver is
missing."""

import os
import struct
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


GUESTS_DIR = os.path.join(BUILD_DIR, "tests", "guests")


def payload(name):
    path = os.path.join(GUESTS_DIR, name)
    if not os.path.exists(path):
        pytest.skip("payload %s is not built (tests/guests needs nasm and ld)" % path)
    with open(path, "rb") as f:
        return f.read()


def elf32_loads(image):
    """(paddr, file bytes) of each PT_LOAD segment of an ELF32 image."""
    assert image[:4] == b"\x7fELF" and image[4] == 1, "not an ELF32 file"
    phoff, = struct.unpack_from("<I", image, 28)
    phentsize, phnum = struct.unpack_from("<HH", image, 42)
    out = []
    for i in range(phnum):
        p_type, p_offset, _vaddr, p_paddr, p_filesz = struct.unpack_from(
            "<IIIII", image, phoff + i * phentsize)
        if p_type == 1 and p_filesz:
            out.append((p_paddr, image[p_offset:p_offset + p_filesz]))
    return out


def test_hello_payload_boots_and_its_memory_is_readable(kvm, tmp_path):
    image = payload("hello.elf")
    log = tmp_path / "console.log"
    vm = kvm.define_xml("""<domain type='kvm'>
  <name>py-payload</name>
  <memory unit='MiB'>16</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type><kernel>%s</kernel></os>
  <devices><serial type='file'><source path='%s'/><target port='0'/></serial></devices>
</domain>""" % (os.path.join(GUESTS_DIR, "hello.elf"), log))
    vm.start()
    info = vm.wait(timeout=120)
    assert info.state is qv.State.STOPPED
    assert log.read_text() == "Hello from a qv guest!\nbooted by a multiboot loader\n"
    # The loader put the kernel's segments where the ELF headers say.
    for paddr, data in elf32_loads(image):
        assert vm.read_memory(paddr, len(data)) == data
    vm.destroy()


def amd_without_nrips():
    flags = set()
    for line in open("/proc/cpuinfo"):
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    return "svm" in flags and "nrip_save" not in flags


EVENTS = [
    ("queue_interrupt", (0x40,), (0x40, 0, 0)),
    ("inject_gp", (0x18,), (13, 0x18, 0)),
    ("inject_pf", (0xcafe000, 2), (14, 2, 0xcafe000)),
    ("inject_ud", (), (6, 0, 0)),
    ("queue_exception", (3,), (3, 0, 0)),
    ("queue_nmi", (), (2, 0, 0)),
]


@pytest.mark.parametrize("method,args,reported", EVENTS, ids=[e[0] for e in EVENTS])
def test_payload_reports_injected_event(kvm, method, args, reported):
    # inject.bin: protected mode, an IDT whose handlers report the vector on
    # port 0xe1, the error code on 0xe2 and CR2 on 0xe3; idles on 0xe0 + HLT.
    if method == "queue_exception" and amd_without_nrips():
        # KVM on SVM delivers #BP as INT3 would be, skipping an instruction
        # for the return address; without NRIPS it emulates that skip and
        # drops the event when it cannot (seen under QEMU's emulated AMD-V,
        # scripts/nested-kvm.sh). Every AMD CPU since 2010 has NRIPS.
        pytest.skip("#BP injection: this AMD SVM CPU lacks NRIPS (nrip_save)")
    vm, cpu = guest(kvm, "py-" + method.replace("_", "-"), payload("inject.bin"))

    def expect(port):
        ex = cpu.run()
        assert ex.reason is qv.ExitReason.IO and ex.io.port == port, ex
        return int.from_bytes(ex.io.data, "little")

    expect(0xe0)
    assert cpu.run().reason is qv.ExitReason.HLT
    getattr(cpu, method)(*args)
    assert (expect(0xe1), expect(0xe2), expect(0xe3)) == reported
