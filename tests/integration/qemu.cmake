# The qemu driver with a real Linux guest under TCG, through the qv CLI.
# Each boot takes ~5-10 s on a loaded 2-core machine; labelled slow.
if(QV_WITH_QEMU)
  if(TARGET qv_cli)
    add_test(NAME qemu_guest
      COMMAND /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider
              ${CMAKE_CURRENT_SOURCE_DIR}/qemu/test_guest.py)
    set_tests_properties(qemu_guest PROPERTIES LABELS "slow;qemu" TIMEOUT 900
      ENVIRONMENT "QV_CLI=$<TARGET_FILE:qv_cli>;QV_SOURCE_DIR=${PROJECT_SOURCE_DIR};QV_BUILD_DIR=${PROJECT_BINARY_DIR}")
    # Statistics, pinning and live settings of one running guest.
    add_test(NAME qemu_live
      COMMAND /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider
              ${CMAKE_CURRENT_SOURCE_DIR}/qemu/test_live.py)
    set_tests_properties(qemu_live PROPERTIES LABELS "slow;qemu" TIMEOUT 900
      ENVIRONMENT "QV_CLI=$<TARGET_FILE:qv_cli>;QV_SOURCE_DIR=${PROJECT_SOURCE_DIR};QV_BUILD_DIR=${PROJECT_BINARY_DIR}")
    # Backends beside QEMU: virtiofs mounted by the guest (test_devices.py).
    add_test(NAME qemu_devices
      COMMAND /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider
              ${CMAKE_CURRENT_SOURCE_DIR}/qemu/test_devices.py)
    set_tests_properties(qemu_devices PROPERTIES LABELS "slow;qemu" TIMEOUT 600
      ENVIRONMENT "QV_CLI=$<TARGET_FILE:qv_cli>;QV_SOURCE_DIR=${PROJECT_SOURCE_DIR};QV_BUILD_DIR=${PROJECT_BINARY_DIR}")
    # <bandwidth> through tc on a bridge NIC's tap (root: skipped otherwise).
    add_test(NAME qemu_net
      COMMAND /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider
              ${CMAKE_CURRENT_SOURCE_DIR}/qemu/test_net.py)
    set_tests_properties(qemu_net PROPERTIES LABELS "qemu" TIMEOUT 300
      ENVIRONMENT "QV_CLI=$<TARGET_FILE:qv_cli>;QV_SOURCE_DIR=${PROJECT_SOURCE_DIR};QV_BUILD_DIR=${PROJECT_BINARY_DIR}")
  endif()
endif()
# libvirt's own documents (tests/data/xml/libvirt) start under TCG.
if(QV_WITH_QEMU AND TARGET qv_cli)
  # <interface type='network'> mapped at start (qemu_network.c).
  add_test(NAME qemu_network
    COMMAND /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider
            ${CMAKE_CURRENT_SOURCE_DIR}/qemu/test_network.py)
  set_tests_properties(qemu_network PROPERTIES LABELS "qemu" TIMEOUT 300
    ENVIRONMENT "QV_CLI=$<TARGET_FILE:qv_cli>;QV_SOURCE_DIR=${PROJECT_SOURCE_DIR};QV_BUILD_DIR=${PROJECT_BINARY_DIR}")
  # Device placement and user socket paths (issue 14's hostile review).
  add_test(NAME qemu_placement
    COMMAND /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider
            ${CMAKE_CURRENT_SOURCE_DIR}/qemu/test_placement.py)
  set_tests_properties(qemu_placement PROPERTIES LABELS "qemu" TIMEOUT 300
    ENVIRONMENT "QV_CLI=$<TARGET_FILE:qv_cli>;QV_SOURCE_DIR=${PROJECT_SOURCE_DIR};QV_BUILD_DIR=${PROJECT_BINARY_DIR}")
  add_test(NAME qemu_corpus
    COMMAND /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider
            ${CMAKE_CURRENT_SOURCE_DIR}/qemu/test_corpus.py)
  set_tests_properties(qemu_corpus PROPERTIES LABELS "qemu" TIMEOUT 600
    ENVIRONMENT "QV_CLI=$<TARGET_FILE:qv_cli>;QV_SOURCE_DIR=${PROJECT_SOURCE_DIR};QV_BUILD_DIR=${PROJECT_BINARY_DIR}")
endif()
