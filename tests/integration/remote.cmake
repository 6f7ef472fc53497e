# The remote driver: the protocol and helper over a pipe, then through a
# real OpenSSH sshd the tests start on 127.0.0.1. pytest with the Python
# bindings, whose environment loads the built libqv.
if(QV_WITH_REMOTE)
  set(_remote_dir ${CMAKE_CURRENT_SOURCE_DIR}/remote)
  foreach(_t pipe ssh qemu_ssh)
    if(EXISTS ${_remote_dir}/test_${_t}.py)
      add_test(NAME remote_${_t}
        COMMAND ${QV_PYTHON} -m pytest -q -rs -p no:cacheprovider ${_remote_dir}/test_${_t}.py)
      set_tests_properties(remote_${_t} PROPERTIES LABELS "remote" TIMEOUT 300
        ENVIRONMENT "${QV_PYTHON_ENV};QV_CLI=$<TARGET_FILE:qv_cli>;QV_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
    endif()
  endforeach()
  # kvm+ssh:// and kvm+pipe:// reach the remote host's kvm:///session, which
  # runs each VM in qv-vmm (a noop VM inside it here, vmm_uri=noop:///; a
  # real KVM guest only where /dev/kvm is usable, probed by the test).
  if(QV_WITH_KVM AND QV_WITH_NOOP AND TARGET qv_vmm AND EXISTS ${_remote_dir}/test_kvm_ssh.py)
    add_test(NAME remote_kvm_ssh
      COMMAND ${QV_PYTHON} -m pytest -q -rs -p no:cacheprovider ${_remote_dir}/test_kvm_ssh.py)
    set_tests_properties(remote_kvm_ssh PROPERTIES LABELS "remote;kvm" TIMEOUT 600
      ENVIRONMENT "${QV_PYTHON_ENV};QV_CLI=$<TARGET_FILE:qv_cli>;QV_VMM=$<TARGET_FILE:qv_vmm>;QV_SOURCE_DIR=${PROJECT_SOURCE_DIR};QV_BUILD_DIR=${PROJECT_BINARY_DIR}")
  endif()
endif()
