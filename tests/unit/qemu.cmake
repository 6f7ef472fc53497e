# qemu driver and its shared layers (lib/qmp, lib/proc).
qv_check_test(qemu_qmp SOURCES ${CMAKE_CURRENT_LIST_DIR}/qemu_qmp.c TIMEOUT 120)
qv_check_test(qemu_proc SOURCES ${CMAKE_CURRENT_LIST_DIR}/qemu_proc.c TIMEOUT 60)
# The rest need the qemu driver.
if(NOT QV_WITH_QEMU)
  return()
endif()
qv_check_test(qemu_argv SOURCES ${CMAKE_CURRENT_LIST_DIR}/qemu_argv.c
  ${CMAKE_CURRENT_LIST_DIR}/qemu_argv_util.c TIMEOUT 300)
# Machine-level elements (features, os extras, sysinfo, memory, tuning).
qv_check_test(qemu_argv_machine SOURCES ${CMAKE_CURRENT_LIST_DIR}/qemu_argv_machine.c
  ${CMAKE_CURRENT_LIST_DIR}/qemu_argv_util.c TIMEOUT 300)
# <cpu>'s flags (maximum, vendor, cache, maxphysaddr, optional features).
qv_check_test(qemu_argv_cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/qemu_argv_cpu.c
  ${CMAKE_CURRENT_LIST_DIR}/qemu_argv_util.c TIMEOUT 300)
# <clock>: the guest's RTC on real QEMU, the timers' argv.
qv_check_test(qemu_clock SOURCES ${CMAKE_CURRENT_LIST_DIR}/qemu_clock.c
  ${CMAKE_CURRENT_LIST_DIR}/qemu_argv_util.c TIMEOUT 300)
qv_check_test(qemu_driver SOURCES ${CMAKE_CURRENT_LIST_DIR}/qemu_driver.c TIMEOUT 300)
qv_check_test(qemu_cloudinit SOURCES ${CMAKE_CURRENT_LIST_DIR}/qemu_cloudinit.c TIMEOUT 60)
# The argvs that need QEMU with KVM, skipped with QEMU's reason where the
# probe finds it unusable.
add_test(NAME qemu_argv_kvm COMMAND qemu_argv kvm)
set_tests_properties(qemu_argv_kvm PROPERTIES LABELS kvm-guest SKIP_RETURN_CODE 77 TIMEOUT 300
  ENVIRONMENT "CK_DEFAULT_TIMEOUT=300;QV_SOURCE_DIR=${PROJECT_SOURCE_DIR};QV_BUILD_DIR=${PROJECT_BINARY_DIR}")
qv_check_test(qemu_probe SOURCES ${CMAKE_CURRENT_LIST_DIR}/qemu_probe.c TIMEOUT 120)
qv_check_test(qemu_store SOURCES ${CMAKE_CURRENT_LIST_DIR}/qemu_store.c TIMEOUT 120)
qv_check_test(qemu_clone SOURCES ${CMAKE_CURRENT_LIST_DIR}/qemu_clone.c TIMEOUT 600)
# libvirt's other <devices> children (serial models, watchdog, sound, TPM, ...).
qv_check_test(qemu_argv_kept SOURCES ${CMAKE_CURRENT_LIST_DIR}/qemu_argv_kept.c
  ${CMAKE_CURRENT_LIST_DIR}/qemu_argv_util.c TIMEOUT 300)
# Devices backed beside QEMU (virtiofsd, ...).
qv_check_test(qemu_argv_hostside SOURCES ${CMAKE_CURRENT_LIST_DIR}/qemu_argv_hostside.c
  ${CMAKE_CURRENT_LIST_DIR}/qemu_argv_util.c TIMEOUT 300)
