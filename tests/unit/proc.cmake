# lib/proc: the seccomp sandbox qv-vmm enters (qv_sandbox, built where
# libseccomp is). Skips (77) where the kernel refuses seccomp filters.
if(TARGET qv_sandbox)
  qv_check_test(proc_sandbox SOURCES proc_sandbox.c LABELS proc LIBS qv_sandbox)
  set_tests_properties(proc_sandbox PROPERTIES SKIP_RETURN_CODE 77)
endif()
# lib/proc/landlock.h on the running kernel (ABI probed, degraded by it).
# Skips (77) where the kernel has no Landlock.
qv_check_test(proc_landlock SOURCES proc_landlock.c LABELS proc)
set_tests_properties(proc_landlock PROPERTIES SKIP_RETURN_CODE 77)
