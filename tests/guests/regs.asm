; Register-level test payload (real mode, loaded and reset at 0x1000).
; Each step leaves through an exit the test checks; see tests/unit/kvm_vcpu.c.
bits 16
org 0x1000
start:
    mov al, 0x11
    out 0x10, al            ; byte OUT
    mov ax, 0x2233
    out 0x12, ax            ; word OUT
    mov eax, 0x44556677
    out 0x14, eax           ; dword OUT
    in al, 0x20             ; IN: the test supplies the byte
    out 0x21, al            ;   and sees it come back
    mov si, msg
    mov cx, 4
    mov dx, 0x30
    rep outsb               ; string OUT of 4 bytes
    mov ax, 0xd000
    mov es, ax
    mov byte [es:0x10], 0x5a ; MMIO write to unbacked 0xd0010
    mov al, [es:0x20]        ; MMIO read from 0xd0020: the test supplies it
    out 0x22, al
    mov ax, bx              ; BX set by the test with vcpu_set_reg
    inc ax
    out 0x24, ax
    hlt                     ; HLT exits: no in-kernel irqchip on a bare VM
    mov cx, 0x1234          ; three single steps
    mov dx, 0x5678
    nop
    out 0x26, al
spin:
    jmp spin                ; for vcpu_kick
msg: db "qvio"
