; Multiboot v1 entry that records the machine state the loader left, before
; any instruction changes it: every GPR, EFLAGS, the segment selectors,
; CR0/CR3/CR4, EFER, GDTR and IDTR. Then a stack of its own and
; mbstate_main(&entry_state) prints it (mbstate.c). The header asks for
; memory info only (no module alignment), as a plain `qemu -kernel` kernel.
bits 32
section .multiboot
align 4
    dd 0x1BADB002
    dd 0x00000002
    dd -(0x1BADB002 + 0x00000002)

section .bss
align 16
stack_bottom: resb 16384
stack_top:
global entry_state
entry_state:
    resd 8          ; eax ecx edx ebx esp ebp esi edi
    resd 1          ; eflags
    resd 6          ; cs ds es fs gs ss
    resd 3          ; cr0 cr3 cr4
    resd 2          ; efer lo, hi
    resb 6          ; gdtr
    resb 2
    resb 6          ; idtr
    resb 2

section .text
global _start
extern mbstate_main
_start:
    ; Stores through an absolute address change no register and no flag.
    mov [entry_state + 0], eax
    mov [entry_state + 4], ecx
    mov [entry_state + 8], edx
    mov [entry_state + 12], ebx
    mov [entry_state + 16], esp
    mov [entry_state + 20], ebp
    mov [entry_state + 24], esi
    mov [entry_state + 28], edi
    mov [entry_state + 36], cs
    mov [entry_state + 40], ds
    mov [entry_state + 44], es
    mov [entry_state + 48], fs
    mov [entry_state + 52], gs
    mov [entry_state + 56], ss
    mov eax, cr0
    mov [entry_state + 60], eax
    mov eax, cr3
    mov [entry_state + 64], eax
    mov eax, cr4
    mov [entry_state + 68], eax
    mov ecx, 0xC0000080
    rdmsr
    mov [entry_state + 72], eax
    mov [entry_state + 76], edx
    sgdt [entry_state + 80]
    sidt [entry_state + 88]
    ; No instruction above changes a flag; our own stack for pushfd, as
    ; the loader's ESP need not point at RAM.
    mov esp, stack_top
    pushfd
    pop dword [entry_state + 32]
    cli
    push entry_state
    call mbstate_main
    mov dx, 0xf4
    out dx, eax
.hang:
    hlt
    jmp .hang
