# Kill qv at system calls of every state-changing operation and check that
# nothing is lost or left half-written (tests/integration/killpoints/).
# CI tries an evenly spread sample with a fresh offset per run; the full
# sweep is one command, in the script's docstring.
if(QV_WITH_NOOP)
  add_test(NAME killpoints_noop
    COMMAND ${QV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/killpoints/killpoints.py
            --uri noop://{state} --sample 12)
  set_tests_properties(killpoints_noop PROPERTIES LABELS "noop;killpoints" TIMEOUT 600
    SKIP_RETURN_CODE 77
    ENVIRONMENT "QV_CLI=$<TARGET_FILE:qv_cli>;${QV_PYTHON_ENV}")
endif()
# The qemu driver on stopped VMs with qcow2 disks (snapshots via qemu-img):
# slower per point, so fewer of them. Not in sanitizer builds: there one
# point took minutes (not yet understood; the qemu-img that libqv runs from
# the ASan-preloaded Python is the suspect), beyond CI's budget.
if(QV_WITH_QEMU AND NOT QV_SANITIZE)
  add_test(NAME killpoints_qemu
    COMMAND ${QV_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/killpoints/killpoints.py
            --uri qemu:///session?root={state} --sample 4)
  set_tests_properties(killpoints_qemu PROPERTIES LABELS "qemu;killpoints" TIMEOUT 600
    SKIP_RETURN_CODE 77
    ENVIRONMENT "QV_CLI=$<TARGET_FILE:qv_cli>;${QV_PYTHON_ENV}")
endif()
