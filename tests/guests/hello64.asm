; A 64-bit guest, built twice: as a flat binary (nasm -f bin -DFLAT, loaded
; at 1 MiB) and as an ELF64 (linked at 1 MiB). Both loaders enter it in
; long mode with the low 4 GiB identity-mapped.
bits 64
%ifdef FLAT
org 0x100000
%endif
section .text
global _start
_start:
    lea rsi, [rel msg]
.next:
    lodsb
    test al, al
    jz .done
    mov dx, 0x3f8
    out dx, al
    jmp .next
.done:
    mov dx, 0xf4
    mov eax, 0x21               ; exit status 0x43
    out dx, eax
.hang:
    hlt
    jmp .hang
msg:
%ifdef FLAT
    db "hello from a flat 64-bit guest", 10, 0
%else
    db "hello from an ELF64 guest", 10, 0
%endif
