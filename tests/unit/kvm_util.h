/* Shared by the kvm tests: skipping without /dev/kvm, finding payloads. */
#ifndef QV_TEST_KVM_UTIL_H
#define QV_TEST_KVM_UTIL_H

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define KVM_SKIP 77 /* ctest's SKIP_RETURN_CODE for these tests */

/* Exit with the skip code, saying why, when this machine has no usable KVM. */
static inline void kvm_test_require(void)
{
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        printf("SKIP: /dev/kvm is missing or not accessible; the kvm tests need it\n");
        exit(KVM_SKIP);
    }
}

/* The path of a built payload (tests/guests/NAME in the build tree). */
static inline char *kvm_test_guest(const char *name)
{
    const char *b = g_getenv("QV_BUILD_DIR");
    return g_build_filename(b ? b : ".", "tests", "guests", name, NULL);
}

static inline GBytes *kvm_test_load(const char *name)
{
    g_autofree char *p = kvm_test_guest(name);
    gchar *data = NULL;
    gsize len = 0;
    if (!g_file_get_contents(p, &data, &len, NULL)) {
        fprintf(stderr, "cannot read payload %s (build target qv_guests)\n", p);
        abort();
    }
    return g_bytes_new_take(data, len);
}

#endif
