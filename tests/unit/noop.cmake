qv_check_test(noop_lifecycle SOURCES noop_lifecycle.c LABELS noop)
qv_check_test(noop_memory SOURCES noop_memory.c LABELS noop)
qv_check_test(noop_vcpu SOURCES noop_vcpu.c LABELS noop)
qv_check_test(noop_snapshot SOURCES noop_snapshot.c LABELS noop)
