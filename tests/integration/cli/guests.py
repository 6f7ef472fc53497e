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
