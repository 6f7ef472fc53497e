; Multiboot v1 entry shared by the C payloads: a header QEMU's -kernel and
; libqv's loader both accept, a stack, then guest_main(magic, info). Its
; return value goes to isa-debug-exit at 0xf4.
bits 32
section .multiboot
align 4
    dd 0x1BADB002               ; magic
    dd 0x00000003               ; page-align modules, want memory info
    dd -(0x1BADB002 + 0x00000003)

section .bss
align 16
stack_bottom: resb 16384
global stack_top
stack_top:

section .text
global _start
extern guest_main
_start:
    cli
    mov esp, stack_top
    push ebx
    push eax
    call guest_main
    mov dx, 0xf4
    out dx, eax
.hang:
    hlt
    jmp .hang
