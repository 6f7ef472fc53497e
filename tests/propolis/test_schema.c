/* The fake server's JSON-schema validator against the Propolis document:
 * it must accept what the contract allows and name what it does not. */
#include <check.h>
#include <string.h>

#include "json_schema.h"

static JsonParser *doc;
static JsonObject *schemas;

static void setup(void)
{
    doc = json_parser_new();
    ck_assert(json_parser_load_from_file(doc, PROPOLIS_OPENAPI, NULL));
    JsonObject *root = json_node_get_object(json_parser_get_root(doc));
    schemas =
        json_object_get_object_member(json_object_get_object_member(root, "components"), "schemas");
}

static void teardown(void)
{
    g_object_unref(doc);
}

static char *check_text(const char *schema, const char *json)
{
    g_autoptr(JsonParser) p = json_parser_new();
    ck_assert_msg(json_parser_load_from_data(p, json, -1, NULL), "bad test JSON %s", json);
    return json_schema_check_named(schemas, json_parser_get_root(p), schema);
}

#define OK(schema, json)                                                                           \
    do {                                                                                           \
        g_autofree char *e_ = check_text(schema, json);                                            \
        ck_assert_msg(!e_, "%s rejected %s: %s", schema, json, e_);                                \
    } while (0)

#define BAD(schema, json, needle)                                                                  \
    do {                                                                                           \
        g_autofree char *e_ = check_text(schema, json);                                            \
        ck_assert_msg(e_, "%s accepted %s", schema, json);                                         \
        ck_assert_msg(strstr(e_, needle), "error '%s' lacks '%s'", e_, needle);                    \
    } while (0)

#define PROPS                                                                                      \
    "\"properties\":{\"id\":\"6f1c2a8e-3f3b-4a53-9d4f-4b0e8f2d9a11\",\"name\":\"vm\","             \
    "\"description\":\"\",\"metadata\":{\"project_id\":\"00000000-0000-0000-0000-000000000000\","  \
    "\"silo_id\":\"00000000-0000-0000-0000-000000000000\",\"sled_id\":"                            \
    "\"00000000-0000-0000-0000-000000000000\",\"sled_model\":\"m\",\"sled_revision\":0,"           \
    "\"sled_serial\":\"s\"}}"
#define BOARD                                                                                      \
    "\"board\":{\"cpus\":2,\"memory_mb\":512,\"chipset\":{\"type\":\"i440_fx\","                   \
    "\"value\":{\"enable_pcie\":false}}}"

START_TEST(ensure_request)
{
    OK("InstanceEnsureRequest",
       "{" PROPS ",\"init\":{\"method\":\"Spec\",\"value\":{\"spec\":{" BOARD
       ",\"components\":{\"com1\":{\"type\":\"serial_port\","
       "\"component\":{\"num\":\"com1\"}}}}}}}");
    BAD("InstanceEnsureRequest", "{" PROPS "}", "missing required property 'init'");
    BAD("InstanceEnsureRequest",
        "{" PROPS ",\"init\":{\"method\":\"Spec\",\"value\":{\"spec\":{\"board\":{\"cpus\":300,"
        "\"memory_mb\":1,\"chipset\":{\"type\":\"i440_fx\",\"value\":{\"enable_pcie\":false}}},"
        "\"components\":{}}}}}",
        "$.init.value.spec.board.cpus: 300 is out of range for uint8");
    BAD("InstanceEnsureRequest",
        "{" PROPS ",\"init\":{\"method\":\"Spec\",\"value\":{\"spec\":{" BOARD
        ",\"components\":{\"com5\":{\"type\":\"serial_port\",\"component\":{\"num\":\"com5\"}}}}}}"
        "}",
        "\"com5\" is not one of");
    BAD("InstanceEnsureRequest",
        "{" PROPS ",\"init\":{\"method\":\"Spec\",\"value\":{\"spec\":{" BOARD
        ",\"components\":{\"d\":{\"type\":\"file_storage_backend\",\"component\":{\"path\":\"/x\","
        "\"readonly\":false,\"block_size\":512,\"cache\":\"none\"}}}}}}}",
        "unknown property 'cache'");
}
END_TEST

START_TEST(scalars_and_nullable)
{
    OK("InstanceStateRequested", "\"Run\"");
    BAD("InstanceStateRequested", "\"run\"", "is not one of");
    BAD("InstanceStateRequested", "3", "expected string");
    OK("InstanceStateMonitorRequest", "{\"gen\":0}");
    BAD("InstanceStateMonitorRequest", "{\"gen\":-1}", "out of range for uint64");
    BAD("InstanceStateMonitorRequest", "{}", "missing required property 'gen'");
    OK("CpuidEntry", "{\"eax\":0,\"ebx\":0,\"ecx\":0,\"edx\":0,\"leaf\":1,\"subleaf\":null}");
    BAD("CpuidEntry", "{\"eax\":0,\"ebx\":0,\"ecx\":0,\"edx\":0,\"leaf\":null}",
        "expected integer");
    BAD("InstanceProperties",
        "{\"id\":\"nope\",\"name\":\"\",\"description\":\"\",\"metadata\":{}}",
        "'nope' is not a UUID");
    OK("NvmeDisk", "{\"backend_id\":\"b\",\"pci_path\":{\"bus\":0,\"device\":4,\"function\":0},"
                   "\"serial_number\":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}");
    BAD("NvmeDisk",
        "{\"backend_id\":\"b\",\"pci_path\":{\"bus\":0,\"device\":4,\"function\":0},"
        "\"serial_number\":[0]}",
        "fewer than 20");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("propolis_schema");
    TCase *tc = tcase_create("validator");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, ensure_request);
    tcase_add_test(tc, scalars_and_nullable);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
