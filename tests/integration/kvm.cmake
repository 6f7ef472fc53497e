# The kvm driver end to end through `qv vm run`, against QEMU (TCG) running
# the same payloads. Skipped without /dev/kvm.
if(QV_WITH_KVM)
  if(TARGET qv_cli AND TARGET qv_guests)
    add_test(NAME kvm_vs_qemu
      COMMAND /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider
              ${CMAKE_CURRENT_SOURCE_DIR}/kvm/test_vs_qemu.py)
    set_tests_properties(kvm_vs_qemu PROPERTIES LABELS "kvm;integration;kvm-guest" TIMEOUT 600
      ENVIRONMENT "QV_CLI=$<TARGET_FILE:qv_cli>;QV_SOURCE_DIR=${PROJECT_SOURCE_DIR};QV_BUILD_DIR=${PROJECT_BINARY_DIR}")
    add_test(NAME kvm_virtio_guests
      COMMAND /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider
              ${CMAKE_CURRENT_SOURCE_DIR}/kvm/test_virtio_guests.py)
    set_tests_properties(kvm_virtio_guests PROPERTIES LABELS "kvm;integration;kvm-guest;virtio"
      TIMEOUT 600
      ENVIRONMENT "QV_CLI=$<TARGET_FILE:qv_cli>;QV_SOURCE_DIR=${PROJECT_SOURCE_DIR};QV_BUILD_DIR=${PROJECT_BINARY_DIR}")
  endif()
endif()
