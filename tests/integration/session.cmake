# kvm:///session through the qv CLI: each VM in its own qv-vmm, hosting a
# noop:/// VM (vmm_uri=) so that the process layer is tested without
# /dev/kvm; the same steps on kvm:///embed inside qv-vmm run only where
# /dev/kvm is usable (probed, skipped otherwise).
if(QV_WITH_KVM AND QV_WITH_NOOP AND TARGET qv_cli AND TARGET qv_vmm)
  add_test(NAME kvm_session
    COMMAND /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider
            ${CMAKE_CURRENT_SOURCE_DIR}/session/test_session.py)
  set_tests_properties(kvm_session PROPERTIES LABELS "kvm;session" TIMEOUT 600
    ENVIRONMENT "QV_CLI=$<TARGET_FILE:qv_cli>;QV_VMM=$<TARGET_FILE:qv_vmm>;${QV_PYTHON_ENV}")
endif()
# A real KVM guest (the bundled hello) in kvm:///session, through the CLI's
# default URI; skipped where /dev/kvm is not usable.
if(QV_WITH_KVM AND TARGET qv_cli AND TARGET qv_vmm)
  add_test(NAME kvm_session_guest
    COMMAND /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider
            ${CMAKE_CURRENT_SOURCE_DIR}/session/test_session_kvm.py)
  set_tests_properties(kvm_session_guest PROPERTIES LABELS "kvm;session;kvm-guest" TIMEOUT 300
    ENVIRONMENT "QV_CLI=$<TARGET_FILE:qv_cli>;QV_VMM=$<TARGET_FILE:qv_vmm>;QV_GUESTS_DIR=${QV_GUESTS_DIR};${QV_PYTHON_ENV}")
endif()
# CPU weight/cap (the VM's cgroup; probed, skipped where this host lets us
# make no cpu cgroup), live pins, live refusals, and a qv-vmm-test killed
# by its seccomp filter reported crashed.
if(QV_WITH_KVM AND QV_WITH_NOOP AND TARGET qv_cli AND TARGET qv_vmm AND TARGET qv_vmm_test)
  add_test(NAME kvm_session_tune
    COMMAND /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider
            ${CMAKE_CURRENT_SOURCE_DIR}/session/test_session_tune.py)
  set_tests_properties(kvm_session_tune PROPERTIES LABELS "kvm;session" TIMEOUT 600
    ENVIRONMENT "QV_CLI=$<TARGET_FILE:qv_cli>;QV_VMM=$<TARGET_FILE:qv_vmm>;QV_VMM_TEST=$<TARGET_FILE:qv_vmm_test>;QV_GUESTS_DIR=${QV_GUESTS_DIR};${QV_PYTHON_ENV}")
  # Its KVM case alone, for scripts/test.sh's run inside nested-kvm.sh.
  add_test(NAME kvm_session_tune_kvm
    COMMAND /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider -k kvm_vcpu_threads
            ${CMAKE_CURRENT_SOURCE_DIR}/session/test_session_tune.py)
  set_tests_properties(kvm_session_tune_kvm PROPERTIES LABELS "kvm;session;kvm-guest" TIMEOUT 300
    ENVIRONMENT "QV_CLI=$<TARGET_FILE:qv_cli>;QV_VMM=$<TARGET_FILE:qv_vmm>;QV_VMM_TEST=$<TARGET_FILE:qv_vmm_test>;QV_GUESTS_DIR=${QV_GUESTS_DIR};${QV_PYTHON_ENV}")
  # qv-vmm-test is never installed and built only for tests.
  add_custom_target(kvm_session_tune_deps ALL)
  add_dependencies(kvm_session_tune_deps qv_vmm_test)
endif()
# Where each run's console output begins in console.log (vm_console_log).
if(QV_WITH_KVM AND QV_WITH_NOOP AND TARGET qv_cli AND TARGET qv_vmm)
  add_test(NAME kvm_session_console
    COMMAND /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider
            ${CMAKE_CURRENT_SOURCE_DIR}/session/test_session_console.py)
  set_tests_properties(kvm_session_console PROPERTIES LABELS "kvm;session" TIMEOUT 300
    ENVIRONMENT "QV_CLI=$<TARGET_FILE:qv_cli>;QV_VMM=$<TARGET_FILE:qv_vmm>;${QV_PYTHON_ENV}")
endif()
# Snapshots, restore and clone on kvm:///session (qv-vmm's snapshot jobs),
# on a noop:///DIR VM whose driver keeps its snapshots between runs.
if(QV_WITH_KVM AND QV_WITH_NOOP AND TARGET qv_cli AND TARGET qv_vmm)
  add_test(NAME kvm_session_snap
    COMMAND /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider
            ${CMAKE_CURRENT_SOURCE_DIR}/session/test_session_snap.py)
  set_tests_properties(kvm_session_snap PROPERTIES LABELS "kvm;session" TIMEOUT 600
    ENVIRONMENT "QV_CLI=$<TARGET_FILE:qv_cli>;QV_VMM=$<TARGET_FILE:qv_vmm>;QV_GUESTS_DIR=${QV_GUESTS_DIR};${QV_PYTHON_ENV}")
  # Its KVM case alone, for scripts/test.sh's run inside nested-kvm.sh.
  add_test(NAME kvm_session_snap_kvm
    COMMAND /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider -k embed_snapshots_inside_vmm
            ${CMAKE_CURRENT_SOURCE_DIR}/session/test_session_snap.py)
  set_tests_properties(kvm_session_snap_kvm PROPERTIES LABELS "kvm;session;kvm-guest" TIMEOUT 300
    ENVIRONMENT "QV_CLI=$<TARGET_FILE:qv_cli>;QV_VMM=$<TARGET_FILE:qv_vmm>;QV_GUESTS_DIR=${QV_GUESTS_DIR};${QV_PYTHON_ENV}")
  # The watcher test runs qv-vmm-test (its job delay hook).
  if(TARGET qv_vmm_test)
    set_property(TEST kvm_session_snap APPEND PROPERTY ENVIRONMENT
                 "QV_VMM_TEST=$<TARGET_FILE:qv_vmm_test>")
  endif()
endif()
# qv-vmm's Landlock domain seen from inside (qv-vmm-test's x-qv-test-open,
# -rename, -connect), and snapshots through it; skipped without Landlock.
if(QV_WITH_KVM AND QV_WITH_NOOP AND TARGET qv_cli AND TARGET qv_vmm_test)
  add_test(NAME kvm_session_landlock
    COMMAND /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider
            ${CMAKE_CURRENT_SOURCE_DIR}/session/test_session_landlock.py)
  set_tests_properties(kvm_session_landlock PROPERTIES LABELS "kvm;session" TIMEOUT 300
    ENVIRONMENT "QV_CLI=$<TARGET_FILE:qv_cli>;QV_VMM_TEST=$<TARGET_FILE:qv_vmm_test>;${QV_PYTHON_ENV}")
endif()
