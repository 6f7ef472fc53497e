/* Cloud-init NoCloud seeds: the JSON the VM directory holds, the three
 * documents, and the ISO genisoimage builds (read back with isoinfo). Also
 * the guest address lookups. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drivers/qemu/qemu.h"
#include "lib/util/error.h"
#include "lib/util/fileio.h"

#define KEY "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDqv test@host"
#define GOOD                                                                                       \
    "{\"hostname\": \"web01\", \"users\": [{\"name\": \"debian\", \"ssh_authorized_keys\": "       \
    "[\"" KEY "\"]}], \"networks\": [{\"mac\": \"52:54:00:12:34:56\", \"address\": "               \
    "\"192.168.122.10/24\", \"gateway\": \"192.168.122.1\", \"dns\": [\"192.168.122.1\"]}]}"

static JsonObject *doc(const char *text, const char *header)
{
    ck_assert_msg(g_str_has_prefix(text, header), "%s", text);
    g_autoptr(JsonNode) n = json_from_string(text + strlen(header), NULL);
    ck_assert_ptr_nonnull(n);
    return json_object_ref(json_node_get_object(n));
}

START_TEST(documents)
{
    struct qemu_cloudinit *ci = qemu_cloudinit_parse(GOOD, "cloud-init.json");
    ck_assert_msg(ci != NULL, "%s", qv_last_error()->message);
    ci->instance_id = g_strdup("4dea22b3-1d52-d8f3-2516-782e98ab3fa0");

    g_autofree char *md = qemu_cloudinit_meta_data(ci);
    JsonObject *m = doc(md, "");
    ck_assert_str_eq(json_object_get_string_member(m, "instance-id"),
                     "4dea22b3-1d52-d8f3-2516-782e98ab3fa0");
    ck_assert_str_eq(json_object_get_string_member(m, "local-hostname"), "web01");
    json_object_unref(m);

    g_autofree char *ud = qemu_cloudinit_user_data(ci);
    JsonObject *u = doc(ud, "#cloud-config\n");
    JsonArray *users = json_object_get_array_member(u, "users");
    ck_assert_uint_eq(json_array_get_length(users), 2);
    JsonObject *u1 = json_array_get_object_element(users, 1);
    ck_assert_str_eq(json_object_get_string_member(u1, "name"), "debian");
    ck_assert_str_eq(
        json_array_get_string_element(json_object_get_array_member(u1, "ssh_authorized_keys"), 0),
        KEY);
    json_object_unref(u);

    g_autofree char *nc = qemu_cloudinit_network_config(ci);
    JsonObject *net = doc(nc, "");
    ck_assert_int_eq(json_object_get_int_member(net, "version"), 2);
    JsonObject *nic =
        json_object_get_object_member(json_object_get_object_member(net, "ethernets"), "nic0");
    ck_assert_str_eq(
        json_object_get_string_member(json_object_get_object_member(nic, "match"), "macaddress"),
        "52:54:00:12:34:56");
    ck_assert_str_eq(
        json_array_get_string_element(json_object_get_array_member(nic, "addresses"), 0),
        "192.168.122.10/24");
    JsonObject *route =
        json_array_get_object_element(json_object_get_array_member(nic, "routes"), 0);
    ck_assert_str_eq(json_object_get_string_member(route, "via"), "192.168.122.1");
    json_object_unref(net);
    qemu_cloudinit_free(ci);
}
END_TEST

START_TEST(bad_configs_name_the_path)
{
    const struct {
        const char *json, *needle;
    } cases[] = {
        {"[]", "not a JSON object"},
        {"{\"users\": 5}", "$.users must be an array"},
        {"{\"users\": [{\"ssh_authorized_keys\": []}]}", "$.users[0] needs a \"name\""},
        {"{\"users\": [{\"name\": \"Root;rm\"}]}", "$.users[0].name is not valid"},
        {"{\"users\": [{\"name\": \"a\", \"ssh_authorized_keys\": [\"not a key\"]}]}",
         "$.users[0].ssh_authorized_keys[0] is not a valid entry"},
        {"{\"users\": [{\"name\": \"a\", \"ssh_authorized_keys\": [\"ssh-rsa A\\nB\"]}]}",
         "ssh_authorized_keys[0]"},
        {"{\"networks\": [{\"mac\": \"52:54:00:12:34\", \"address\": \"10.0.0.2/24\"}]}",
         "$.networks[0].mac is not valid"},
        {"{\"networks\": [{\"mac\": \"52:54:00:12:34:56\", \"address\": \"10.0.0.2\"}]}",
         "$.networks[0].address is not valid"},
        {"{\"networks\": [{\"mac\": \"52:54:00:12:34:56\"}]}", "needs \"mac\" and \"address\""},
        {"{\"networks\": [{\"mac\": \"52:54:00:12:34:56\", \"address\": \"10.0.0.2/33\"}]}",
         "$.networks[0].address is not valid"},
        {"{\"networks\": [{\"mac\": \"52:54:00:12:34:56\", \"address\": \"10.0.0.2/24\", "
         "\"gateway\": \"nope\"}]}",
         "$.networks[0].gateway is not valid"},
        {"{\"hostname\": \"a b\"}", "$.hostname is not valid"},
        {"{\"hostnme\": \"x\"}", "$.hostnme is not a known member"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        ck_assert_ptr_null(qemu_cloudinit_parse(cases[i].json, "vm/cloud-init.json"));
        ck_assert_int_eq(qv_last_error()->code, QV_ERR_JSON);
        ck_assert_msg(strstr(qv_last_error()->message, cases[i].needle), "case %zu: %s", i,
                      qv_last_error()->message);
        ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "vm/cloud-init.json"));
    }
}
END_TEST

static char *iso_file(const char *iso, const char *name)
{
    g_autofree char *path = g_strdup_printf("/%s;1", name);
    const char *argv[] = {"isoinfo", "-R", "-i", iso, "-x", path, NULL};
    /* isoinfo names files in Rock Ridge by their real name. */
    g_autofree char *rr = g_strdup_printf("/%s", name);
    argv[5] = rr;
    char *out = NULL;
    ck_assert_int_eq(qemu_run_tool(argv, &out), 0);
    return out;
}

START_TEST(seed_iso)
{
    g_autofree char *dir = g_dir_make_tmp("qv-ci-XXXXXX", NULL);
    g_autofree char *iso = g_build_filename(dir, "seed.iso", NULL);
    struct qemu_cloudinit *ci = qemu_cloudinit_parse(GOOD, "cloud-init.json");
    ck_assert_msg(ci != NULL, "%s", qv_last_error()->message);
    ci->instance_id = g_strdup("iid-1");
    ck_assert_msg(qemu_cloudinit_build_iso(ci, iso) == 0, "%s", qv_last_error()->message);
    const char *label[] = {"isoinfo", "-d", "-i", iso, NULL};
    g_autofree char *info = NULL;
    ck_assert_int_eq(qemu_run_tool(label, &info), 0);
    ck_assert_msg(strstr(info, "Volume id: cidata"), "%s", info);
    g_autofree char *ud = iso_file(iso, "user-data");
    g_autofree char *want_ud = qemu_cloudinit_user_data(ci);
    ck_assert_str_eq(ud, want_ud);
    g_autofree char *md = iso_file(iso, "meta-data");
    ck_assert_ptr_nonnull(strstr(md, "\"iid-1\""));
    g_autofree char *nc = iso_file(iso, "network-config");
    ck_assert_ptr_nonnull(strstr(nc, "52:54:00:12:34:56"));
    /* Nothing but the ISO is left behind. */
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    ck_assert_str_eq(g_dir_read_name(d), "seed.iso");
    ck_assert_ptr_null(g_dir_read_name(d));
    qemu_cloudinit_free(ci);
    qv_dir_remove_tree(dir);
}
END_TEST

START_TEST(guest_ip_from_leases)
{
    g_autofree char *dir = g_dir_make_tmp("qv-ci-XXXXXX", NULL);
    g_autofree char *leases = g_build_filename(dir, "dnsmasq.leases", NULL);
    ck_assert(g_file_set_contents(leases,
                                  "1790000000 52:54:00:aa:bb:cc 192.168.122.50 web01 *\n"
                                  "garbage line\n"
                                  "1790000100 52:54:00:aa:bb:cc 192.168.122.51 web01 *\n"
                                  "1790000100 52:54:00:aa:bb:dd not-an-ip x *\n",
                                  -1, NULL));
    g_setenv("QV_DNSMASQ_LEASES", leases, TRUE);
    char *ip = NULL;
    ck_assert_int_eq(qemu_ip_for_mac("52:54:00:AA:BB:CC", &ip), 0);
    ck_assert_str_eq(ip, "192.168.122.51"); /* the newest lease */
    g_free(ip);
    ck_assert_int_eq(qemu_ip_for_mac("52:54:00:aa:bb:dd", &ip), QV_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "52:54:00:aa:bb:dd"));
    g_unsetenv("QV_DNSMASQ_LEASES");
    qv_dir_remove_tree(dir);
}
END_TEST

/* The ARP table comes first: the host's own entries are found by MAC. */
START_TEST(guest_ip_from_arp)
{
    g_autofree char *text = NULL;
    ck_assert(g_file_get_contents("/proc/net/arp", &text, NULL, NULL));
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **l = lines + 1; *l; l++) {
        char ip[64], type[16], flags[16], mac[32];
        if (sscanf(*l, "%63s %15s %15s %31s", ip, type, flags, mac) != 4 ||
            strcmp(flags, "0x0") == 0)
            continue;
        char *got = NULL;
        ck_assert_int_eq(qemu_ip_for_mac(mac, &got), 0);
        ck_assert_str_eq(got, ip);
        g_free(got);
        return;
    }
    fprintf(stderr, "SKIP: guest_ip_from_arp: the ARP table has no complete entry\n");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("qemu_cloudinit");
    TCase *tc = tcase_create("cloudinit");
    tcase_add_test(tc, documents);
    tcase_add_test(tc, bad_configs_name_the_path);
    tcase_add_test(tc, seed_iso);
    tcase_add_test(tc, guest_ip_from_leases);
    tcase_add_test(tc, guest_ip_from_arp);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
