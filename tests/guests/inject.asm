; Event-injection payload: real mode at 0x1000 switches to 32-bit protected
; mode with an IDT whose 256 handlers report what they saw over port I/O:
; 0xe1 = vector (byte), 0xe2 = error code (dword, 0 when none), 0xe3 = CR2.
; Handlers return with POPF; RET (see report). The idle loop reports "ready" on 0xe0, enables interrupts and halts.
bits 16
org 0x1000
start:
    cli
    xor ax, ax
    mov ds, ax
    lgdt [gdt_desc]
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    jmp 0x08:pm

bits 32
pm:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, 0x9000
    ; IDT at 0x3000: 256 interrupt gates to the stubs.
    mov edi, 0x3000
    mov esi, stubs
    mov ecx, 256
.fill:
    mov eax, [esi]
    mov [edi], ax
    mov word [edi + 2], 0x08
    mov word [edi + 4], 0x8e00
    shr eax, 16
    mov [edi + 6], ax
    add esi, 4
    add edi, 8
    loop .fill
    lidt [idt_desc]
idle:
    out 0xe0, al
    sti
    hlt
    cli
    jmp idle

report:
    push eax
    mov eax, [esp + 4]      ; vector
    out 0xe1, al
    mov eax, [esp + 8]      ; error code
    out 0xe2, eax
    mov eax, cr2
    out 0xe3, eax
    pop eax
    add esp, 8
    ; Return without IRET, which KVM's instruction emulator (all that runs
    ; 32-bit code under PVM) cannot do outside real mode: rearrange the
    ; frame [eip][cs][eflags] into [eflags][eip][.] and POPF; RET 4.
    push eax
    mov eax, [esp + 4]
    xchg eax, [esp + 8]
    mov eax, [esp + 12]
    mov [esp + 4], eax
    pop eax
    popfd
    ret 4

%assign v 0
%rep 256
stub_ %+ v:
%if v = 8 || (v >= 10 && v <= 14) || v = 17 || v = 21 || v = 29 || v = 30
    push dword v
%else
    push dword 0
    push dword v
%endif
    jmp report
%assign v v + 1
%endrep

align 4
stubs:
%assign v 0
%rep 256
    dd stub_ %+ v
%assign v v + 1
%endrep

align 8
gdt:
    dq 0
    dq 0x00cf9b000000ffff   ; 0x08 code
    dq 0x00cf93000000ffff   ; 0x10 data
gdt_desc:
    dw gdt_desc - gdt - 1
    dd gdt
idt_desc:
    dw 256 * 8 - 1
    dd 0x3000
