# virtio device tests: a test-side driver (virtio_test_driver.c) plays the
# guest against the virtio-mmio transport with a malloc'd buffer as guest
# RAM, so they run everywhere, /dev/kvm or not.
# qv_virtio_test(NAME SOURCES a.c ...) adds the driver to a test binary.
if(QV_WITH_KVM)
  function(qv_virtio_test name)
    cmake_parse_arguments(V "" "" "SOURCES" ${ARGN})
    qv_check_test(${name} SOURCES ${V_SOURCES}
      ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/virtio_test_driver.c LABELS kvm virtio TIMEOUT 120)
  endfunction()

  qv_virtio_test(virtio_mmio SOURCES virtio_mmio.c)
  qv_virtio_test(virtio_queue SOURCES virtio_queue.c)
  qv_virtio_test(virtio_console SOURCES virtio_console.c)
  # A device through a snapshot: quiesce, save, load into a fresh transport.
  qv_virtio_test(virtio_state SOURCES virtio_state.c)
  # What each device writes into guest RAM is marked dirty (incremental
  # snapshots), and nothing else.
  qv_virtio_test(virtio_dirty SOURCES virtio_dirty.c)
endif()
