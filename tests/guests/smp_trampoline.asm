; Application-processor start-up code. The BSP copies [ap_start, ap_end) to
; 0x8000 and sends SIPI vector 0x08, so APs begin here in real mode with
; CS = 0x0800, IP = 0. Addresses are computed relative to 0x8000.
bits 16
section .rodata
global ap_start, ap_end
extern ap_main, ap_stacks, ap_counter
%define REL(x) (0x8000 + (x) - ap_start)
ap_start:
    cli
    mov ax, cs
    mov ds, ax
    lgdt [gdt_ptr - ap_start]
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    jmp dword 0x08:REL(ap_pm)
bits 32
ap_pm:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov eax, 1
    lock xadd [ap_counter], eax     ; this AP's slot
    mov esp, eax
    inc esp
    shl esp, 12
    add esp, ap_stacks
    mov ecx, ap_main
    jmp ecx
align 8
gdt:
    dq 0
    dq 0x00cf9a000000ffff
    dq 0x00cf92000000ffff
gdt_ptr:
    dw 23
    dd REL(gdt)
ap_end:
