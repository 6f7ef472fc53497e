# kvm driver benchmarks: bench/kvm_bench.sh runs them side by side with
# QEMU (`make kvm_bench` or run the script by hand with the build dir).
if(QV_WITH_KVM)
  add_executable(kvm_create_destroy ${CMAKE_CURRENT_SOURCE_DIR}/kvm_create_destroy.c)
  target_link_libraries(kvm_create_destroy PRIVATE qv)
  add_executable(kvm_phases ${CMAKE_CURRENT_SOURCE_DIR}/kvm_phases.c)
  target_link_libraries(kvm_phases PRIVATE qv)
  # The floor qv is measured against: static (no dynamic loader, no
  # libraries), no glib, no libqv. Sanitizer runtimes cannot link
  # statically, so a sanitizer build links it dynamically, bound at start
  # (-z now) so that lazy binding never lands inside a timed loop; its
  # figures are not the floor then, and the bench says so.
  add_executable(kvm_floor ${CMAKE_CURRENT_SOURCE_DIR}/kvm_floor.c)
  if(QV_SANITIZE)
    target_link_options(kvm_floor PRIVATE -Wl,-z,now)
  else()
    target_link_options(kvm_floor PRIVATE -static)
  endif()
  add_test(NAME kvm_floor COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/kvm_floor_check.sh
                                  $<TARGET_FILE:kvm_floor>)
  set_tests_properties(kvm_floor PROPERTIES LABELS "kvm;kvm-guest" SKIP_RETURN_CODE 77)
  if(TARGET qv_cli AND TARGET qv_guests)
    add_custom_target(kvm_bench
      COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/kvm_bench.sh ${PROJECT_BINARY_DIR}
      DEPENDS kvm_create_destroy kvm_phases kvm_floor qv_cli qv_guests USES_TERMINAL)
  endif()
endif()
# Snapshot memory files: restore cost against RAM size and increment
# sizes, on files only (no /dev/kvm): `build/bench/snap_mem_restore [DIR]`.
if(QV_WITH_KVM)
  add_executable(snap_mem_restore ${CMAKE_CURRENT_SOURCE_DIR}/snap_mem_restore.c)
  target_link_libraries(snap_mem_restore PRIVATE qv_obj)
  target_include_directories(snap_mem_restore PRIVATE ${PROJECT_SOURCE_DIR})
endif()
# Issue 11's snapshot benchmarks on a real KVM (exit 77 without /dev/kvm):
# restore, create, increment size, clone; `build/bench/kvm_snap_bench [R]`
# (under scripts/nested-kvm.sh on a host without /dev/kvm).
if(QV_WITH_KVM)
  add_executable(kvm_snap_bench ${CMAKE_CURRENT_SOURCE_DIR}/kvm_snap_bench.c)
  target_link_libraries(kvm_snap_bench PRIVATE qv PkgConfig::GLIB)
endif()
# kvm:///session start to the first console byte against the floor and
# QEMU (issue 12): bench/session_first_byte.sh BUILD_DIR [RUNS], whose
# launcher is first_byte.
if(QV_WITH_KVM)
  add_executable(first_byte ${CMAKE_CURRENT_SOURCE_DIR}/first_byte.c)
  # What loading the libraries every libqv process loads costs by itself.
  add_executable(lib_floor ${CMAKE_CURRENT_SOURCE_DIR}/lib_floor.c)
  target_link_libraries(lib_floor PRIVATE PkgConfig::GLIB PkgConfig::JSONGLIB PkgConfig::LIBXML)
  target_link_options(lib_floor PRIVATE -Wl,--no-as-needed)
endif()
