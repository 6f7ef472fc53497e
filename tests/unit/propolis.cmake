# The propolis driver, tested against a fake propolis-server built here.
# The contract both sides follow is Propolis's OpenAPI document (API 5.0.0)
# in the project's shared directory.
if(QV_WITH_PROPOLIS)
  set(QV_PROPOLIS_OPENAPI "${PROJECT_SOURCE_DIR}/../shared/propolis/propolis-server-5.0.0.json"
      CACHE FILEPATH "Propolis OpenAPI document the fake server validates requests against")

  add_executable(fake-propolis-server
    ${PROJECT_SOURCE_DIR}/tests/propolis/fake_propolis_server.c
    ${PROJECT_SOURCE_DIR}/tests/propolis/json_schema.c)
  target_link_libraries(fake-propolis-server PRIVATE PkgConfig::GLIB PkgConfig::JSONGLIB
                                                     PkgConfig::SOUP)

  if(EXISTS "${QV_PROPOLIS_OPENAPI}")
    qv_check_test(propolis_driver
      SOURCES ${PROJECT_SOURCE_DIR}/tests/propolis/test_propolis.c
              ${PROJECT_SOURCE_DIR}/tests/propolis/fake_client.c
      LABELS propolis TIMEOUT 120)
    add_dependencies(propolis_driver fake-propolis-server)
    target_compile_definitions(propolis_driver PRIVATE
      FAKE_PROPOLIS_SERVER="$<TARGET_FILE:fake-propolis-server>"
      PROPOLIS_OPENAPI="${QV_PROPOLIS_OPENAPI}")
    qv_check_test(propolis_schema
      SOURCES ${PROJECT_SOURCE_DIR}/tests/propolis/test_schema.c
              ${PROJECT_SOURCE_DIR}/tests/propolis/json_schema.c
      LABELS propolis TIMEOUT 60)
    target_compile_definitions(propolis_schema PRIVATE
      PROPOLIS_OPENAPI="${QV_PROPOLIS_OPENAPI}")
  else()
    message(WARNING "Propolis OpenAPI document not found at ${QV_PROPOLIS_OPENAPI}; "
                    "the propolis tests are not built (set QV_PROPOLIS_OPENAPI)")
  endif()

  # A GLib warning or critical in the driver is a bug: make it fail the tests.
  if(TARGET propolis_driver)
    set_property(TEST propolis_driver APPEND PROPERTY ENVIRONMENT "G_DEBUG=fatal-warnings")
  endif()
endif()
