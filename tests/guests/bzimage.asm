; A minimal "bzImage": a setup header for boot protocol 2.12 with a 64-bit
; entry, and a protected-mode part whose startup_64 (at +0x200) reports
; what the 64-bit boot protocol handed it through the zero page in RSI:
; loader type, command line, e820 entry count and the initrd's first line.
bits 16
org 0
    times 0x1f1 db 0
    db 1                        ; 0x1f1 setup_sects: setup is 2 sectors
    dw 0                        ; 0x1f2 root_flags
    dd 0                        ; 0x1f4 syssize
    dw 0, 0, 0                  ; 0x1f8 ram_size, vid_mode, root_dev
    dw 0xaa55                   ; 0x1fe boot_flag
    db 0xeb, hdr_end - 0x202    ; 0x200 jump over the header
    db "HdrS"                   ; 0x202
    dw 0x020c                   ; 0x206 version 2.12
    dd 0                        ; 0x208 realmode_swtch
    dw 0, 0                     ; 0x20c start_sys_seg, kernel_version
    db 0                        ; 0x210 type_of_loader
    db 0x01                     ; 0x211 loadflags: LOADED_HIGH
    dw 0                        ; 0x212 setup_move_size
    dd 0x100000                 ; 0x214 code32_start
    dd 0, 0                     ; 0x218 ramdisk_image, ramdisk_size
    dd 0                        ; 0x220 bootsect_kludge
    dw 0                        ; 0x224 heap_end_ptr
    db 0, 0                     ; 0x226 ext_loader_ver, ext_loader_type
    dd 0                        ; 0x228 cmd_line_ptr
    dd 0x7fffffff               ; 0x22c initrd_addr_max
    dd 0x200000                 ; 0x230 kernel_alignment
    db 0, 0                     ; 0x234 relocatable_kernel, min_alignment
    dw 0x0001                   ; 0x236 xloadflags: XLF_KERNEL_64
    dd 255                      ; 0x238 cmdline_size
    dd 0                        ; 0x23c hardware_subarch
    dq 0                        ; 0x240 hardware_subarch_data
    dd 0, 0                     ; 0x248 payload_offset, payload_length
    dq 0                        ; 0x250 setup_data
    dq 0x100000                 ; 0x258 pref_address
    dd 0x10000                  ; 0x260 init_size
    dd 0                        ; 0x264 handover_offset
hdr_end:
    times 1024 - ($ - $$) db 0

; The protected-mode kernel, loaded at 0x100000.
bits 64
pm:
    times 0x200 db 0xf4         ; the 32-bit entry: not used here
startup_64:
    mov rbx, rsi                ; the zero page
    lea rsi, [rel s_entry]
    call puts
    lea rsi, [rel s_loader]
    call puts
    movzx eax, byte [rbx + 0x210]
    call puthex8
    lea rsi, [rel s_cmdline]
    call puts
    mov esi, [rbx + 0x228]
    call puts
    lea rsi, [rel s_e820]
    call puts
    movzx eax, byte [rbx + 0x1e8]
    add al, '0'
    call putc
    lea rsi, [rel s_initrd]
    call puts
    mov esi, [rbx + 0x218]      ; the initrd: print its first line
    mov ecx, [rbx + 0x21c]
.line:
    test ecx, ecx
    jz .eol
    lodsb
    cmp al, 10
    je .eol
    call putc
    dec ecx
    jmp .line
.eol:
    mov al, 10
    call putc
    mov dx, 0xf4
    mov eax, 0x22               ; exit status 0x45
    out dx, eax
.hang:
    hlt
    jmp .hang

putc:                           ; al
    mov dx, 0x3f8
    out dx, al
    ret
puts:                           ; rsi: NUL-terminated
    lodsb
    test al, al
    jz .done
    call putc
    jmp puts
.done:
    ret
puthex8:                        ; al, as two hex digits and a newline
    push rax
    shr al, 4
    call .digit
    pop rax
    and al, 0xf
    call .digit
    mov al, 10
    jmp putc
.digit:
    add al, '0'
    cmp al, '9'
    jbe putc
    add al, 7
    jmp putc

s_entry:   db "bzImage: 64-bit entry", 10, 0
s_loader:  db "loader type: ", 0
s_cmdline: db "cmdline: ", 0
s_e820:    db 10, "e820 entries: ", 0
s_initrd:  db 10, "initrd: ", 0
