if(QV_WITH_NOOP)
  qv_check_test(noop_lifecycle SOURCES noop_lifecycle.c LABELS noop)
  qv_check_test(noop_memory SOURCES noop_memory.c LABELS noop)
  qv_check_test(noop_vcpu SOURCES noop_vcpu.c LABELS noop)
  qv_check_test(noop_snapshot SOURCES noop_snapshot.c LABELS noop)
  qv_check_test(noop_dir SOURCES noop_dir.c LABELS noop)
  qv_check_test(noop_threads SOURCES noop_threads.c LABELS noop threads TIMEOUT 600)
  # The same binary under helgrind, where valgrind exists and the build has no
  # sanitizer (they do not mix). The suppressions cover GLib, GObject,
  # json-glib and libxml2 internals only; see the file.
  find_program(QV_VALGRIND valgrind)
  if(QV_VALGRIND AND NOT QV_SANITIZE)
    add_test(NAME noop_threads_helgrind
             COMMAND ${QV_VALGRIND} --tool=helgrind --error-exitcode=1
                     --suppressions=${CMAKE_CURRENT_SOURCE_DIR}/noop_threads.supp
                     $<TARGET_FILE:noop_threads>)
    set_tests_properties(noop_threads_helgrind PROPERTIES LABELS "noop;threads;helgrind"
      TIMEOUT 900 ENVIRONMENT "CK_FORK=no;CK_DEFAULT_TIMEOUT=900")
  endif()
endif()
