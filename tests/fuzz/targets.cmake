# Every fuzz target and the libqv sources it exercises (see CMakeLists.txt).
set(_conf ${QV_TOP}/lib/conf)
set(_util ${QV_TOP}/lib/util)

# The definition parsers: domain XML, device XML, JSON.
qv_fuzz_target(fuzz_domain
  SOURCES ${_conf}/domain.c ${_conf}/ids.c ${_conf}/validate.c ${_conf}/conf_check.c
          ${_conf}/xml_util.c ${_conf}/xml_limits.c ${_conf}/xml_parse.c ${_conf}/xml_devices.c
          ${_conf}/xml_schema.c ${_conf}/xml_live.c ${_conf}/xml_address.c ${_conf}/address.c
          ${_conf}/xml_resource.c ${_conf}/xml_format.c ${_conf}/xml_metadata.c ${_conf}/cloud_init.c
          ${_conf}/json_parse.c ${_conf}/json_format.c ${_util}/error.c ${_util}/names.c
          ${_util}/json_bounded.c ${_util}/textfile.c
  LIBS PkgConfig::LIBXML)

# What a QMP peer sends: lines to the message parser, the stream to a client.
qv_fuzz_target(fuzz_qmp
  SOURCES ${QV_TOP}/lib/qmp/qmp.c ${_util}/error.c ${_util}/json.c ${_util}/json_bounded.c
          ${_util}/textfile.c)

# The kernel loaders, into a plain buffer standing for guest RAM.
if(QV_WITH_KVM)
  set(_ld ${QV_TOP}/drivers/kvm/loaders)
  set(_ld_sources ${_ld}/image.c ${_ld}/layout.c ${_ld}/elf.c ${_ld}/boot.c ${_ld}/multiboot.c
                  ${_ld}/elf64.c ${_ld}/flat.c ${_ld}/bzimage.c ${_ld}/cmdline.c ${_util}/error.c)
  qv_fuzz_target(fuzz_multiboot SOURCES ${_ld_sources})
  qv_fuzz_target(fuzz_bzimage SOURCES ${_ld_sources})
  qv_fuzz_target(fuzz_elf64 SOURCES ${_ld_sources})
endif()

# What a propolis-server answers: status and body through propolis_answer.
if(QV_WITH_PROPOLIS)
  qv_fuzz_target(fuzz_propolis_http
    SOURCES ${QV_TOP}/drivers/propolis/propolis_http.c ${_util}/error.c ${_util}/json.c
            ${_util}/json_bounded.c ${_util}/textfile.c
    LIBS PkgConfig::SOUP)
  # What a websocket server sends qv's console: the frame tracker against a
  # reference reading, whole and in pieces.
  qv_fuzz_target(fuzz_ws_frames
    SOURCES ${QV_TOP}/tools/qv/ws_guard.c
    LIBS PkgConfig::SOUP)
endif()

# The qv command line: it calls libqv's public API, so it links libqv's
# objects (built by the same clang; a clang ASan libqv.so cannot link with
# --no-undefined, the runtime being in the executable) and compiles the
# CLI's sources in for coverage. Corpus: one argv per file with
# NUL-separated words; fuzz_cli.dict holds qv's words. -close_fd_mask=3
# silences qv's output.
get_property(_cli_sources GLOBAL PROPERTY QV_CLI_SOURCES)
get_property(_cli_libs GLOBAL PROPERTY QV_CLI_LIBS)
qv_fuzz_target(fuzz_cli
  SOURCES ${_cli_sources}
  LIBS qv_obj ${_cli_libs}
  ARGS -close_fd_mask=3 -max_len=4096 -dict=${QV_TOP}/tests/data/fuzz/fuzz_cli.dict)
