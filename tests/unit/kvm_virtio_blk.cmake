# virtio-blk (drivers/kvm/virtio/virtio_blk.c and its backend): requests,
# the raw backend and <iotune> over plain buffers and a real image file, so
# these run everywhere, /dev/kvm or not.
if(QV_WITH_KVM)
  qv_check_test(kvm_blk_req SOURCES kvm_blk_req.c LABELS kvm TIMEOUT 120)
  # Through the transport and the test-side driver (virtio.cmake).
  qv_check_test(kvm_virtio_blk SOURCES kvm_virtio_blk.c
    ${CMAKE_CURRENT_LIST_DIR}/virtio_test_driver.c LABELS kvm virtio TIMEOUT 120)
  # A stuck disk (a userfaultfd page under the I/O thread's preadv): skips
  # itself where userfaultfd is not allowed.
  qv_check_test(kvm_virtio_blk_stall SOURCES kvm_virtio_blk_stall.c
    ${CMAKE_CURRENT_LIST_DIR}/virtio_test_driver.c LABELS kvm virtio TIMEOUT 120)
  set_tests_properties(kvm_virtio_blk_stall PROPERTIES SKIP_RETURN_CODE 77)
endif()
