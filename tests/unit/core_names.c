#include <check.h>
#include <glib.h>
#include <string.h>

#include "lib/util/error.h"
#include "lib/util/names.h"

static const char *const good[] = { "web01", "a", "db.prod", "x_y-z", "vm:1", "c++", "A9" };

static const struct {
    const char *name;
    const char *needle; /* part of the message */
} bad[] = {
    { "", "empty" },
    { "a/b", "'/'" },
    { "..", "'..'" },
    { "a..b", "'..'" },
    { ".hidden", "start with '.'" },
    { "-rf", "start with '-'" },
    { "tab\there", "control character (0x09)" },
    { "nl\n", "control character (0x0a)" },
    { "del\x7f", "control character (0x7f)" },
    { "sp ace", "' '" },
    { "semi;colon", "';'" },
    { "dollar$", "'$'" },
    { "caf\xc3\xa9", "'?'" },
};

START_TEST(test_good)
{
    for (size_t i = 0; i < G_N_ELEMENTS(good); i++)
        ck_assert_msg(qv_name_check(good[i], "VM"), "'%s' refused: %s", good[i],
                      qv_last_error()->message);
}
END_TEST

START_TEST(test_bad)
{
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        qv_reset_error();
        ck_assert_msg(!qv_name_check(bad[i].name, "VM"), "'%s' accepted", bad[i].name);
        ck_assert_int_eq(qv_last_error()->code, QV_ERR_INVALID_ARG);
        ck_assert_msg(strstr(qv_last_error()->message, bad[i].needle),
                      "message for case %zu lacks \"%s\": %s", i, bad[i].needle,
                      qv_last_error()->message);
        ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "VM name"));
    }
}
END_TEST

START_TEST(test_length)
{
    char name[QV_NAME_MAX + 2];
    memset(name, 'a', sizeof(name));
    name[QV_NAME_MAX] = '\0';
    ck_assert(qv_name_check(name, "VM"));
    name[QV_NAME_MAX] = 'a';
    name[QV_NAME_MAX + 1] = '\0';
    ck_assert(!qv_name_check(name, "snapshot"));
    ck_assert_ptr_nonnull(strstr(qv_last_error()->message, "snapshot name is 65 bytes"));
    ck_assert(!qv_name_check(NULL, "VM"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("core_names");
    TCase *tc = tcase_create("names");
    tcase_add_test(tc, test_good);
    tcase_add_test(tc, test_bad);
    tcase_add_test(tc, test_length);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
