# Domain definitions: libvirt XML and the QuantaVirt JSON config.
qv_check_test(conf_xml SOURCES conf_xml.c conf_helpers.c LABELS conf)
qv_check_test(conf_json SOURCES conf_json.c conf_helpers.c LABELS conf)
qv_check_test(conf_bounded SOURCES conf_bounded.c conf_helpers.c LABELS conf)
qv_check_test(conf_mutate SOURCES conf_mutate.c conf_helpers.c LABELS conf TIMEOUT 900)
qv_check_test(conf_metadata SOURCES conf_metadata.c conf_helpers.c LABELS conf)
qv_check_test(conf_corpus SOURCES conf_corpus.c conf_helpers.c LABELS conf)
qv_check_test(conf_address SOURCES conf_address.c conf_helpers.c LABELS conf)
