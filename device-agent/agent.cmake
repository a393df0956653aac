# Targets of the board agent. Only ew_agent_session sees Autobahn|Cpp and websocketpp: those
# headers are heavy (a TU takes ~20 s), so everything else is kept free of them.
set(EW_AGENT_DIR ${CMAKE_CURRENT_LIST_DIR})

# Board procedures (sys.*) and the collectors behind them; no WAMP types here. No protobuf in
# the agent (its RSS): replies are proto3 JSON built with nlohmann, held to libprotobuf by
# tests/device-agent/proto3_conformance_test.cpp.
ew_module(ew_agent_rpc
  SOURCES ${EW_AGENT_DIR}/rpc/sys_info.cpp ${EW_AGENT_DIR}/rpc/sys_procedures.cpp
  DEPS ew_common_contract ew_common_error nlohmann_json::nlohmann_json)

# Board management procedures (sys.restart, sys.reboot, sys.logs): the reboot command runs as a
# tracked child process (containers/runtime's ChildProcess, so the child reaper leaves it be).
ew_module(ew_agent_board
  SOURCES ${EW_AGENT_DIR}/board/board_control.cpp
  DEPS ew_agent_rpc ew_containers_runtime ew_common_contract ew_common_log ew_common_error Boost::system Threads::Threads)

# Agent updates over the air (issue 16): sys.update fetches, verifies and stages a package for
# the root helper (deploy/scripts/edgewire-agent-update) and reports its outcome.
ew_module(ew_agent_update
  SOURCES ${EW_AGENT_DIR}/update/agent_updater.cpp
  DEPS ew_agent_rpc ew_common_contract ew_common_ids ew_common_log ew_common_error ew_common_posix Boost::system Threads::Threads)

# The on-disk spool (store and forward): named streams of CRC-framed records in segment files,
# acknowledged delivery, bounds with drop policies, group commit; a writer thread in front of it.
ew_module(ew_agent_spool
  SOURCES ${EW_AGENT_DIR}/spool/spool_options.cpp ${EW_AGENT_DIR}/spool/record_frame.cpp
          ${EW_AGENT_DIR}/spool/posix_spool_fs.cpp ${EW_AGENT_DIR}/spool/stream_log.cpp
          ${EW_AGENT_DIR}/spool/spool.cpp ${EW_AGENT_DIR}/spool/async_spool.cpp
  DEPS ew_common_error ew_common_log ZLIB::ZLIB Boost::system Threads::Threads)

# A spool stream sent to the conductor through ew.conductor.publish, kept until acknowledged.
ew_module(ew_agent_acked_stream
  SOURCES ${EW_AGENT_DIR}/spool/acked_stream.cpp
  DEPS ew_agent_spool ew_agent_rpc ew_common_contract ew_common_log ew_common_error Boost::system)

# Board procedures fn.* : package cache, deployments, invocations in containers.
ew_module(ew_agent_functions
  SOURCES ${EW_AGENT_DIR}/functions/function_service.cpp ${EW_AGENT_DIR}/functions/trigger_reporter.cpp ${EW_AGENT_DIR}/functions/deployment_book.cpp ${EW_AGENT_DIR}/functions/package_fetcher.cpp
  DEPS ew_agent_spool ew_agent_gpio_rpc ew_common_contract ew_containers_host ew_containers_package ew_common_ids ew_common_json ew_common_log ew_common_error
       ew_common_posix
       nlohmann_json::nlohmann_json Boost::system Threads::Threads)

# Board procedures flow.* : deployed partitions run in the C++ flow runtime (flows/runtime), with
# a Host over the board's chips and the conductor session; cross wires spooled on disk.
ew_module(ew_agent_flows
  SOURCES ${EW_AGENT_DIR}/flows/flow_service.cpp ${EW_AGENT_DIR}/flows/agent_flow_host.cpp
          ${EW_AGENT_DIR}/flows/wire_outbox.cpp
  DEPS ew_flows_nodes ew_flows_runtime ew_flows_model ew_agent_spool ew_agent_acked_stream ew_agent_rpc ew_common_contract ew_common_gpio ew_common_json ew_common_log
       ew_common_error nlohmann_json::nlohmann_json Boost::system)

# Board procedures gpio.* , edge publications and edge triggers over the board's chips.
ew_module(ew_agent_gpio_rpc
  SOURCES ${EW_AGENT_DIR}/gpio/gpio_service.cpp
  DEPS ew_agent_spool ew_agent_acked_stream ew_common_gpio ew_agent_rpc ew_common_log ew_common_error nlohmann_json::nlohmann_json Boost::system)

# The board's chips: the libgpiod backend, the simulation control socket, MakeChips (the one place
# that picks backends). Only the agent links libgpiod (1.6, C++ bindings over the C library);
# with EW_AGENT_STATIC both come from their static archives.
pkg_check_modules(GPIOD REQUIRED IMPORTED_TARGET libgpiod>=1.5)
pkg_check_modules(GPIODCXX REQUIRED IMPORTED_TARGET libgpiodcxx>=1.5)
if(EW_AGENT_STATIC)
  ew_use_static_archive(PkgConfig::GPIOD libgpiod.a)
  ew_use_static_archive(PkgConfig::GPIODCXX libgpiodcxx.a PkgConfig::GPIOD)
else()
  set_property(TARGET PkgConfig::GPIODCXX APPEND PROPERTY INTERFACE_LINK_LIBRARIES PkgConfig::GPIOD)
endif()
ew_module(ew_agent_gpio
  SOURCES ${EW_AGENT_DIR}/gpio/gpiod_chip.cpp ${EW_AGENT_DIR}/gpio/sim_control.cpp ${EW_AGENT_DIR}/gpio/make_chips.cpp
  DEPS ew_common_gpio ew_common_config ew_common_json ew_common_log ew_common_error PkgConfig::GPIODCXX
       nlohmann_json::nlohmann_json Boost::system Threads::Threads)

# OpenSSL for the agent's TLS to the conductor (wss sessions, https enrolment). Only agent
# targets link it. With EW_AGENT_STATIC it comes from libssl.a/libcrypto.a (libssl-dev), so the
# agent still needs libc alone; the conductor and the CLI keep the shared libraries (the
# conductor loads libmosquitto, which brings libssl.so: one OpenSSL per process).
add_library(ew_agent_openssl INTERFACE)
if(EW_AGENT_STATIC)
  find_library(EW_STATIC_LIBSSL NAMES libssl.a)
  find_library(EW_STATIC_LIBCRYPTO NAMES libcrypto.a)
endif()
if(EW_AGENT_STATIC AND EW_STATIC_LIBSSL AND EW_STATIC_LIBCRYPTO)
  target_include_directories(ew_agent_openssl INTERFACE ${OPENSSL_INCLUDE_DIR})
  target_link_libraries(ew_agent_openssl INTERFACE ${EW_STATIC_LIBSSL} ${EW_STATIC_LIBCRYPTO} ${CMAKE_DL_LIBS} Threads::Threads)
else()
  if(EW_AGENT_STATIC)
    message(WARNING "EW_AGENT_STATIC: libssl.a/libcrypto.a not found, the agent links OpenSSL shared")
  endif()
  target_link_libraries(ew_agent_openssl INTERFACE OpenSSL::SSL OpenSSL::Crypto)
endif()

# The agent's side of TLS: trust settings (system CAs, CA file, pin) and the certificate check
# used by both the https enrolment and the wss session. No Autobahn here.
ew_module(ew_agent_tls
  SOURCES ${EW_AGENT_DIR}/tls/conductor_trust.cpp ${EW_AGENT_DIR}/tls/peer_verifier.cpp
  DEPS ew_common_error ew_common_ids ew_agent_openssl Boost::system)

# Board procedure tunnel.open: the board's end of reverse tunnels (a local connection spliced
# to a tunnel WebSocket dialled back to the conductor with the session's TLS checks). Beast only.
ew_module(ew_agent_tunnel
  SOURCES ${EW_AGENT_DIR}/tunnel/tunnel_service.cpp
  DEPS ew_agent_rpc ew_agent_tls ew_common_contract ew_common_url ew_common_log ew_common_error ew_agent_openssl
       Boost::system Threads::Threads)
ew_beast_websocket_sources(${EW_AGENT_DIR}/tunnel/tunnel_service.cpp)

# The enrolment secret on disk (JSON, 0600).
ew_module(ew_agent_credential
  SOURCES ${EW_AGENT_DIR}/credential/credential.cpp
  DEPS ew_agent_tls ew_common_error ew_common_json ew_common_posix nlohmann_json::nlohmann_json)

# `edgewire-agent enrol`: one HTTP(S) POST with Boost.Beast.
ew_module(ew_agent_enrol
  SOURCES ${EW_AGENT_DIR}/enrol/enroller.cpp ${EW_AGENT_DIR}/enrol/conductor_url.cpp
          ${EW_AGENT_DIR}/enrol/enrol_messages.cpp
  DEPS ew_agent_credential ew_agent_tls ew_common_error ew_common_log ew_common_url ew_common_net nlohmann_json::nlohmann_json Boost::system
       Threads::Threads)

# systemd's notify protocol, spoken directly (systemd documents it as stable and reimplementable):
# no libsystemd, so an agent under systemd maps neither it nor the six libraries it needs (RSS).
ew_module(ew_agent_systemd
  SOURCES ${EW_AGENT_DIR}/systemd/notifier.cpp
  DEPS ew_common_log)

# The WAMP session with the conductor: transport (ws or wss), Autobahn session, reconnect loop.
ew_module(ew_agent_session
  SOURCES ${EW_AGENT_DIR}/session/backoff.cpp ${EW_AGENT_DIR}/session/ws_transport.cpp
          ${EW_AGENT_DIR}/session/cra_key.cpp ${EW_AGENT_DIR}/session/session_runner.cpp
          ${EW_AGENT_DIR}/session/session_connect.cpp ${EW_AGENT_DIR}/session/wamp_payload.cpp
          ${EW_AGENT_DIR}/session/reconnect_policy.cpp ${EW_AGENT_DIR}/session/reachability_probe.cpp
          ${EW_AGENT_DIR}/session/mask_key_rng.cpp
  DEPS ew_agent_rpc ew_agent_tls ew_common_ids ew_common_error ew_common_log ew_common_wamp ew_common_url ew_common_clock
       nlohmann_json::nlohmann_json
       Boost::thread Boost::system ew_agent_openssl Threads::Threads)
# Debian's msgpack-cxx 4 defaults to API v3, which Autobahn 17.5 does not compile against;
# Autobahn needs Boost.Thread v4 futures (then/continuations).
target_compile_definitions(ew_agent_session PRIVATE MSGPACK_DEFAULT_API_VERSION=1 BOOST_THREAD_VERSION=4)
# Autobahn and websocketpp are not ours to warn about.
target_compile_options(ew_agent_session PRIVATE -Wno-deprecated-declarations)

# Which of the agent's directories cannot be written (read-only or full disk), for the log and sys.info.
ew_module(ew_agent_storage
  SOURCES ${EW_AGENT_DIR}/storage/storage_check.cpp
  DEPS ew_common_log)

# Start-up pages given back once the session is ready (issue 16, idle RSS): madvise on the
# program's own read-only segments, after the first join.
ew_module(ew_agent_footprint
  SOURCES ${EW_AGENT_DIR}/footprint/startup_trim.cpp
  DEPS ew_common_log ew_common_error Boost::system)

# Command line and the `run` command's wiring (config, credential, signals, systemd).
ew_module(ew_agent_app
  SOURCES ${EW_AGENT_DIR}/cli/agent_cli.cpp ${EW_AGENT_DIR}/commands.cpp
  DEPS ew_agent_session ew_agent_enrol ew_agent_credential ew_agent_rpc ew_agent_board ew_agent_update ew_agent_systemd ew_agent_functions ew_agent_spool
       ew_agent_tunnel ew_agent_storage ew_agent_footprint
       ew_agent_flows
       ew_agent_gpio_rpc ew_agent_gpio
       ew_common_config ew_common_log ew_common_error CLI11::CLI11)
target_compile_definitions(ew_agent_app PRIVATE EW_AGENT_VERSION="${PROJECT_VERSION}")

# Link options that cut the idle agent's resident memory (issue 16, docs/BENCHMARKS.md "The agent
# on a Pi"); the code is unchanged, only where the linker puts it:
# - DT_RELR (-z pack-relative-relocs, glibc >= 2.36, binutils >= 2.38): the PIE's 30,000 relative
#   relocations packed from 740 kB of .rela.dyn, which the loader reads and which then stays
#   resident, into 8 kB. ASLR stays.
# - hot_text.ld (EW_AGENT_HOT_TEXT): the functions that start-up, the idle loop, sys.ping and cold
#   invocations run, first and together in the text (tests/bench/agent_text_profile.py makes the
#   list). The kernel maps 64 kB around each code page faulted in: scattered over 9 MB, 1.3 MB of
#   code run kept 4 MB resident. GNU ld only (INSERT BEFORE .text); a stale list costs RSS only.
# - EW_AGENT_LINK_MAP: also write edgewire-agent.map, the input for agent_text_profile.py.
option(EW_AGENT_PACK_RELOCS "Link the agent with DT_RELR relocations where the linker supports them" ON)
option(EW_AGENT_HOT_TEXT "Link the agent's start-up and idle code first (device-agent/hot_text.ld)" ON)
option(EW_AGENT_LINK_MAP "Write device-agent/edgewire-agent.map when linking the agent" OFF)
include(CheckLinkerFlag)
# Debian 12's binutils (2.40) packs them for x86 only: for aarch64 it warns "-z pack-relative-relocs
# ignored" on real links (not on check_linker_flag's), so only x86-64 asks for it.
set(ew_agent_pack_relocs OFF)
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64)$")
  check_linker_flag(CXX "-Wl,-z,pack-relative-relocs" EW_LINKER_PACKS_RELATIVE_RELOCS)
  set(ew_agent_pack_relocs ${EW_LINKER_PACKS_RELATIVE_RELOCS})
endif()
function(ew_agent_footprint_link target)
  if(EW_AGENT_PACK_RELOCS AND ew_agent_pack_relocs)
    target_link_options(${target} PRIVATE -Wl,-z,pack-relative-relocs)
  endif()
  if(EW_AGENT_HOT_TEXT)
    target_link_options(${target} PRIVATE -Wl,-T,${EW_AGENT_DIR}/hot_text.ld)
    set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS ${EW_AGENT_DIR}/hot_text.ld)
  endif()
  if(EW_AGENT_LINK_MAP)
    target_link_options(${target} PRIVATE -Wl,-Map,$<TARGET_FILE:${target}>.map)
  endif()
endfunction()

add_executable(edgewire-agent ${EW_AGENT_DIR}/main.cpp)
target_link_libraries(edgewire-agent PRIVATE ew_agent_app)
if(EW_AGENT_STATIC)
  # With cmake/agent_static.cmake: libstdc++ and libgcc in the binary too, only the code used
  # kept, unreferenced shared libraries dropped; the binary then needs libc alone. No C++
  # shared library may be loaded next to it (two libstdc++ copies): dlopen only C libraries.
  target_link_options(edgewire-agent PRIVATE -static-libstdc++ -static-libgcc -Wl,--gc-sections -Wl,--as-needed)
  # The agent unpacks packages and never packs one: no libxml2 (and ICU, libstdc++.so) for it.
  set_target_properties(edgewire-agent PROPERTIES EW_ARCHIVE_READ_ONLY ON)
  ew_agent_footprint_link(edgewire-agent)
endif()
install(TARGETS edgewire-agent RUNTIME DESTINATION bin COMPONENT agent)

