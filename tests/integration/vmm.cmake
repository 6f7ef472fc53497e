# tools/qv-vmm: the real binary on noop:/// driven over QMP by lib/qmp, and
# its framing and console relay pieces on their own. qv-vmm-test (the same
# sources with test hooks) is what the start-up race and the sandbox's
# kill are tested with.
if(TARGET qv_vmm AND QV_WITH_NOOP AND CHECK_FOUND)
  qv_check_test(vmm_qmp SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/vmm/test_vmm.c LABELS vmm
                TIMEOUT 300 LIBS qv_vmm_core)
  set_property(TEST vmm_qmp APPEND PROPERTY ENVIRONMENT "QV_VMM=$<TARGET_FILE:qv_vmm>"
                                                        "QV_VMM_TEST=$<TARGET_FILE:qv_vmm_test>")
  add_dependencies(vmm_qmp qv_vmm qv_vmm_test)
endif()
