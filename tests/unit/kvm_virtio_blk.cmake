# virtio-blk (drivers/kvm/virtio/virtio_blk.c and its backend): requests,
# the raw backend and <iotune> over plain buffers and a real image file, so
# these run everywhere, /dev/kvm or not.
if(QV_WITH_KVM)
  qv_check_test(kvm_blk_req SOURCES kvm_blk_req.c LABELS kvm TIMEOUT 120)
endif()
