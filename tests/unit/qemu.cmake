# qemu driver and its shared layers (lib/qmp, lib/proc).
qv_check_test(qemu_qmp SOURCES ${CMAKE_CURRENT_LIST_DIR}/qemu_qmp.c TIMEOUT 60)
qv_check_test(qemu_proc SOURCES ${CMAKE_CURRENT_LIST_DIR}/qemu_proc.c TIMEOUT 60)
qv_check_test(qemu_argv SOURCES ${CMAKE_CURRENT_LIST_DIR}/qemu_argv.c TIMEOUT 300)
qv_check_test(qemu_driver SOURCES ${CMAKE_CURRENT_LIST_DIR}/qemu_driver.c TIMEOUT 300)
qv_check_test(qemu_cloudinit SOURCES ${CMAKE_CURRENT_LIST_DIR}/qemu_cloudinit.c TIMEOUT 60)
