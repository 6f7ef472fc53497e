# Remote driver benchmark: `make remote_bench_run` (or bench/remote_bench.sh
# by hand) compares local URIs with the same driver over a pipe and over SSH
# to a throwaway sshd on 127.0.0.1.
if(QV_WITH_REMOTE)
  add_executable(remote_bench ${CMAKE_CURRENT_SOURCE_DIR}/remote_bench.c
                              ${CMAKE_CURRENT_SOURCE_DIR}/lifecycle_cycle.c)
  target_link_libraries(remote_bench PRIVATE qv_obj)
  target_include_directories(remote_bench PRIVATE ${PROJECT_SOURCE_DIR})
  if(TARGET qv_cli)
    add_custom_target(remote_bench_run
      COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/remote_bench.sh $<TARGET_FILE:remote_bench>
              $<TARGET_FILE:qv_cli>
      DEPENDS remote_bench qv_cli USES_TERMINAL)
  endif()
endif()
