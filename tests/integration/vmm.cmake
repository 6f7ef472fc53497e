# tools/qv-vmm: the real binary on noop:/// driven over QMP by lib/qmp, and
# its framing and console relay pieces on their own.
if(TARGET qv_vmm AND QV_WITH_NOOP AND CHECK_FOUND)
  qv_check_test(vmm_qmp SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/vmm/test_vmm.c LABELS vmm
                TIMEOUT 300 LIBS qv_vmm_core)
  set_property(TEST vmm_qmp APPEND PROPERTY ENVIRONMENT "QV_VMM=$<TARGET_FILE:qv_vmm>")
  add_dependencies(vmm_qmp qv_vmm)
endif()
