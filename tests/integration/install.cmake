# `cmake --install` puts libqv.so.1, the headers and qv in place, and a
# program finds them with pkg-config and with find_package(qv). The program
# runs on noop:///.
if(NOT QV_WITH_NOOP)
  return()
endif()
add_test(NAME install_consumer
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/install/consumer.sh ${PROJECT_BINARY_DIR}
          ${CMAKE_CURRENT_SOURCE_DIR}/install)
set_tests_properties(install_consumer PROPERTIES LABELS integration TIMEOUT 300)
