# Domain XML: `make xml_bench_run` (or bench/xml_bench.sh by hand) times
# parse + format of the libvirt corpus against virsh define + dumpxml.
add_executable(conf_xml_bench ${CMAKE_CURRENT_SOURCE_DIR}/conf_xml_bench.c)
target_link_libraries(conf_xml_bench PRIVATE qv_obj)
target_include_directories(conf_xml_bench PRIVATE ${PROJECT_SOURCE_DIR})
add_custom_target(xml_bench_run
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/xml_bench.sh $<TARGET_FILE:conf_xml_bench>
  DEPENDS conf_xml_bench)
