# Core: errors, the transition table, names, files, settings, validation.
qv_check_test(core_errors SOURCES core_errors.c LABELS core)
qv_check_test(core_state SOURCES core_state.c LABELS core)
qv_check_test(core_names SOURCES core_names.c LABELS core)
qv_check_test(core_fileio SOURCES core_fileio.c LABELS core)
qv_check_test(core_filecopy SOURCES core_filecopy.c LABELS core)
# Needs mkfs.xfs and loop mounts; skipped without them.
qv_check_test(core_filecopy_reflink SOURCES core_filecopy_reflink.c LABELS core)
set_tests_properties(core_filecopy_reflink PROPERTIES SKIP_RETURN_CODE 77)
qv_check_test(core_conf_rules SOURCES core_conf_rules.c LABELS core)

# The exported symbols of libqv.so.1 are exactly the functions the public
# headers declare, all in version QV_1.0.
add_test(NAME core_exports
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/check_exports.py
          $<TARGET_FILE:qv> ${PROJECT_SOURCE_DIR}/include/qv)
set_tests_properties(core_exports PROPERTIES LABELS core)
