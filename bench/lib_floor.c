/* The floor of a process built the way DESIGN.md builds libqv's: linked
 * against the libraries it mandates for every driver (GLib and GIO,
 * json-glib, libxml2), doing nothing but print one byte. Started by
 * bench/first_byte, it shows what loading those libraries alone costs a
 * process; `qv vm start` runs two processes (qv, then qv-vmm), so twice
 * this is the least any start of this design can take before the VM's own
 * work (bench/session_first_byte.sh prints both). */
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <libxml/parser.h>
#include <stdio.h>

int main(void)
{
    /* One call into each, so that none is dropped as unneeded. */
    volatile const void *keep[] = {(const void *)g_strdup, (const void *)g_file_new_for_path,
                                   (const void *)json_parser_new, (const void *)xmlReadMemory};
    (void)keep;
    fputs("x", stdout);
    fflush(stdout);
    return 0;
}
