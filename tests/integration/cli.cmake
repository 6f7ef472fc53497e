# The qv CLI, driven as a user drives it: pytest runs the built binary on a
# temporary noop:///DIR. One ctest test per file so a failure names its area.
if(NOT QV_WITH_NOOP)
  return()
endif()
set(_cli_dir ${CMAKE_CURRENT_SOURCE_DIR}/cli)
string(JOIN "," _qv_built ${QV_BUILT_DRIVERS})
foreach(_t help usage errors lifecycle snapshot set devices run console console_ws system vfio
           fuzz input libvirt_roundtrip)
  add_test(NAME cli_${_t}
    COMMAND /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider ${_cli_dir}/test_${_t}.py)
  # Each test spawns qv a few hundred times: about 0.1 s each on a quiet
  # machine, but close to 1 s under ASan on a loaded one (a CI run beside
  # other work took cli_fuzz past 300 s). The bound is for hangs.
  set_tests_properties(cli_${_t} PROPERTIES LABELS "cli" TIMEOUT 900
    ENVIRONMENT "QV_CLI=$<TARGET_FILE:qv_cli>;QV_SOURCE_DIR=${PROJECT_SOURCE_DIR};QV_BUILD_DIR=${PROJECT_BINARY_DIR}")
  # What `qv system info` must list (tests/integration/cli/test_system.py).
  set_property(TEST cli_${_t} APPEND PROPERTY ENVIRONMENT "QV_BUILT_DRIVERS=${_qv_built}")
endforeach()
# cli_run's kvm cases (`qv vm run` of the payloads, skipped without
# /dev/kvm) are not in the nested kvm-guest run: they stopped QEMU's
# emulated AMD-V machine twice in a row there; kvm_vs_qemu runs the same
# payloads through `qv vm run` in it.
# Where /dev/kvm is usable qv defaults to kvm:///session, which runs qv-vmm.
if(TARGET qv_vmm)
  set_property(TEST cli_system APPEND PROPERTY ENVIRONMENT "QV_VMM=$<TARGET_FILE:qv_vmm>")
endif()
# The console test talks websocket to the propolis tests' fake server.
if(TARGET fake-propolis-server)
  set_property(TEST cli_console cli_console_ws APPEND PROPERTY ENVIRONMENT
    "FAKE_PROPOLIS_SERVER=$<TARGET_FILE:fake-propolis-server>;PROPOLIS_OPENAPI=${QV_PROPOLIS_OPENAPI}")
endif()
