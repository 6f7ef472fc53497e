; Real-mode CPUID probe for the topology test: reports leaf 1 EBX, leaf 0xB
; subleaves 0 and 1, and leaf 0x1F subleaf 2 (EAX, EBX, ECX, EDX each) as
; 32-bit writes to port 0x10, then halts.
bits 16
org 0x1000
    mov eax, 1
    cpuid
    mov eax, ebx
    out 0x10, eax
    mov eax, 0xb
    xor ecx, ecx
    call leaf
    mov eax, 0xb
    mov ecx, 1
    call leaf
    mov eax, 0x1f
    mov ecx, 2
    call leaf
    hlt
leaf:
    cpuid
    out 0x10, eax
    mov eax, ebx
    out 0x10, eax
    mov eax, ecx
    out 0x10, eax
    mov eax, edx
    out 0x10, eax
    ret
