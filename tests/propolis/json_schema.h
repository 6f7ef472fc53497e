/* A JSON-schema validator for the subset the Propolis OpenAPI document
 * uses: $ref to #/components/schemas, type, properties, required,
 * additionalProperties, enum, oneOf/anyOf/allOf, integer formats and
 * minimum/maximum, uuid, nullable, items, minItems/maxItems, uniqueItems.
 * A keyword outside that subset is an error, never silently passed. */
#ifndef QV_TESTS_JSON_SCHEMA_H
#define QV_TESTS_JSON_SCHEMA_H

#include <json-glib/json-glib.h>

/* NULL when node matches schema; else a g_malloc'ed message naming the
 * JSON path ("$.init.value.spec.board.cpus") and what is wrong. schemas
 * is the document's components.schemas object. */
char *json_schema_check(JsonObject *schemas, JsonNode *node, JsonObject *schema);

/* As above for components.schemas[name]. */
char *json_schema_check_named(JsonObject *schemas, JsonNode *node, const char *name);

#endif
