"""Tiny guests the CLI tests boot, built here byte by byte."""

import struct


def echo_guest():
    """A multiboot kernel (a.out kludge, loaded at 1 MiB, entered in 32-bit
    protected mode): prints a banner on COM1, then echoes every byte it
    receives there."""
    base = 0x100000

    def code(msg_addr):
        c = bytearray(b"\xbe" + struct.pack("<I", msg_addr))  # mov esi, msg
        p = len(c)
        c += b"\xac\x84\xc0"                                # lodsb; test al, al
        jz = len(c)
        c += b"\x74\x00"                                     # jz echo
        c += b"\x66\xba\xf8\x03\xee"                        # mov dx, 0x3f8; out dx, al
        c += b"\xeb" + bytes([(p - len(c) - 2) & 0xff])      # jmp p
        echo = len(c)
        c[jz + 1] = echo - jz - 2
        c += b"\x66\xba\xfd\x03\xec\xa8\x01"                # mov dx, 0x3fd; in al, dx; test al, 1
        c += b"\x74" + bytes([(echo - len(c) - 2) & 0xff])   # jz echo
        c += b"\x66\xba\xf8\x03\xec\xee"                    # mov dx, 0x3f8; in al, dx; out dx, al
        c += b"\xeb" + bytes([(echo - len(c) - 2) & 0xff])   # jmp echo
        return bytes(c)

    body = code(base + 32 + len(code(0)))
    magic, flags = 0x1BADB002, 0x00010000
    header = struct.pack("<8I", magic, flags, (-(magic + flags)) & 0xFFFFFFFF, base, base, 0, 0,
                         base + 32)
    return header + body + b"qv-echo ready\r\n\0"


def bios_guest(banner, then="reset"):
    """A 64 KiB firmware image (<os><loader>, QEMU's -bios) whose first
    instructions, at the reset vector, print banner on COM1: the guest's
    first console byte comes the moment QEMU lets it run, with no BIOS
    before it. Then, with then="reset", it resets the machine through the
    keyboard controller (with <on_reboot>destroy</on_reboot> QEMU exits);
    with then="echo" it echoes every byte it receives on COM1."""
    size = 0x10000
    c = bytearray(b"\xba\xf8\x03")                          # mov dx, 0x3f8
    for b in banner:
        c += bytes([0xb0, b, 0xee])                          # mov al, b; out dx, al
    if then == "reset":
        c += b"\xb0\xfe\xe6\x64"                             # mov al, 0xfe; out 0x64, al
        c += b"\xf4\xeb\xfd"                                 # hlt; jmp hlt
    else:
        echo = len(c)
        c += b"\xba\xfd\x03\xec\xa8\x01"                    # mov dx, 0x3fd; in al, dx; test al, 1
        c += b"\x74" + bytes([(echo - len(c) - 2) & 0xff])   # jz echo
        c += b"\xba\xf8\x03\xec\xee"                        # mov dx, 0x3f8; in al, dx; out dx, al
        c += b"\xeb" + bytes([(echo - len(c) - 2) & 0xff])   # jmp echo
    assert len(c) < size - 16
    image = bytearray(b"\xf4" * size)
    image[:len(c)] = c
    # The reset vector (F000:FFF0): jmp near to offset 0 of the segment.
    rel = (0 - (0xfff0 + 3)) & 0xffff
    image[0xfff0:0xfff3] = b"\xe9" + rel.to_bytes(2, "little")
    return bytes(image)


def bios_domain_xml(name, loader, serial="stdio"):
    """A TCG domain booting loader as its firmware, console on COM1."""
    return ("<domain type='qemu'>\n  <name>%s</name>\n"
            "  <memory unit='MiB'>32</memory>\n  <vcpu>1</vcpu>\n"
            "  <os><type arch='x86_64' machine='pc'>hvm</type><loader>%s</loader></os>\n"
            "  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>destroy</on_reboot>\n"
            "  <devices><serial type='%s'><target port='0'/></serial></devices>\n"
            "</domain>\n" % (name, loader, serial))
