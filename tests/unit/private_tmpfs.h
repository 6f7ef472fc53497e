/* A small tmpfs for the tests that fill a file system, mounted in a mount
 * namespace of the test process's own, so a test that dies leaves no
 * mount behind. */
#ifndef QV_TESTS_PRIVATE_TMPFS_H
#define QV_TESTS_PRIVATE_TMPFS_H

/* Mount a tmpfs of size (tmpfs's size=, e.g. "4m") on a new directory
 * named from prefix ("qv-x-XXXXXX"): 0 with *mnt its path, or 77 (ctest's
 * skip code) having printed why it cannot (not root, no namespaces). */
int private_tmpfs_mount(const char *prefix, const char *size, char **mnt);
/* Unmount it, remove the directory and free *mnt. */
void private_tmpfs_unmount(char **mnt);

#endif
