# qemu driver benchmarks: `make qemu_bench_run` (or bench/qemu_lifecycle.sh
# by hand) compares the lifecycle with libvirt's embedded QEMU driver and
# measures the QMP round trip behind vm_get_state(); `make qemu_ops_bench_run`
# (bench/qemu_ops_bench.sh) times clone, snapshot, restore and disk-add.
if(QV_WITH_QEMU)
  add_executable(qemu_bench ${CMAKE_CURRENT_SOURCE_DIR}/qemu_bench.c
                            ${CMAKE_CURRENT_SOURCE_DIR}/lifecycle_cycle.c)
  target_link_libraries(qemu_bench PRIVATE qv_obj)
  target_include_directories(qemu_bench PRIVATE ${PROJECT_SOURCE_DIR})
  if(TARGET qv_cli)
    add_custom_target(qemu_bench_run
      COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/qemu_lifecycle.sh $<TARGET_FILE:qv_cli> 5
              $<TARGET_FILE:qemu_bench>
      DEPENDS qemu_bench qv_cli USES_TERMINAL)
    add_custom_target(qemu_ops_bench_run
      COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/qemu_ops_bench.sh $<TARGET_FILE:qv_cli>
      DEPENDS qv_cli USES_TERMINAL)
  endif()
endif()
