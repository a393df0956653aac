# EW_AGENT_STATIC: the board agent's dependencies linked statically, so that edgewire-agent
# needs only libc. Why: an idle agent's RSS is mostly file-backed pages of the libraries it maps
# (the kernel maps 64 kB around every page touched), and a static link with --gc-sections keeps
# only the code the agent uses. Measured on an idle, connected agent (docs/BENCHMARKS.md): 7.0 MB
# with shared libstdc++/spdlog/fmt/toml++/boost_thread/nettle, 4.3 MB static; and libarchive as a
# shared library loads libxml2 + ICU + libstdc++.so (+1.5 to +3.7 MB) where the static archive
# adds only its tar.gz reader.
#
# Included from the top-level CMakeLists.txt after the find_package() calls. It retargets the
# imported targets in this one place, so module CMakeLists keep naming spdlog::spdlog, fmt::fmt,
# Boost::thread, LibArchive::LibArchive... and the whole tree (conductor and tests too) compiles
# and links the same way; only edgewire-agent adds -static-libstdc++ (device-agent/agent.cmake).
# Costs: TUs that include spdlog/fmt compile a few seconds longer (header-only), and Debian's
# shared libraries get no security update into an agent binary without a rebuild.
option(EW_AGENT_STATIC "Link the board agent statically (all but libc) for a small RSS" ON)
if(NOT EW_AGENT_STATIC)
  return()
endif()

# Per-function/data sections everywhere, so that --gc-sections can drop what the agent never
# calls (it links the same static libraries as the conductor).
add_compile_options(-ffunction-sections -fdata-sections)

# spdlog, fmt and toml++ ship as shared libraries only: compile them header-only instead. The
# shared libraries stay on link lines but nothing references them, so --as-needed drops them.
set_target_properties(spdlog::spdlog PROPERTIES INTERFACE_COMPILE_DEFINITIONS "SPDLOG_FMT_EXTERNAL")
set_target_properties(fmt::fmt PROPERTIES INTERFACE_COMPILE_DEFINITIONS "FMT_HEADER_ONLY=1")
set_target_properties(tomlplusplus::tomlplusplus PROPERTIES INTERFACE_COMPILE_OPTIONS "-DTOML_HEADER_ONLY=1")

# Points an imported library target at its static archive; warns and keeps the shared one when
# the archive is not installed.
function(ew_use_static_archive target archive)
  find_library(EW_STATIC_${archive} NAMES ${archive})
  if(NOT EW_STATIC_${archive})
    message(WARNING "EW_AGENT_STATIC: ${archive} not found, ${target} stays shared (agent RSS grows)")
    return()
  endif()
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "INTERFACE_LIBRARY")  # pkg_check_modules(IMPORTED_TARGET) targets
    set_target_properties(${target} PROPERTIES INTERFACE_LINK_LIBRARIES "${EW_STATIC_${archive}};${ARGN}")
    return()
  endif()
  set_target_properties(${target} PROPERTIES IMPORTED_LOCATION "${EW_STATIC_${archive}}")
  get_target_property(configs ${target} IMPORTED_CONFIGURATIONS)
  if(configs)
    foreach(config IN LISTS configs)
      set_target_properties(${target} PROPERTIES IMPORTED_LOCATION_${config} "${EW_STATIC_${archive}}")
    endforeach()
  endif()
  if(ARGN)
    set_property(TARGET ${target} APPEND PROPERTY INTERFACE_LINK_LIBRARIES ${ARGN})
  endif()
endfunction()

ew_use_static_archive(Boost::thread libboost_thread.a)
ew_use_static_archive(Boost::atomic libboost_atomic.a)
ew_use_static_archive(Boost::system libboost_system.a)
ew_use_static_archive(PkgConfig::NETTLE libnettle.a)
ew_use_static_archive(PkgConfig::SECCOMP libseccomp.a)
ew_use_static_archive(ZLIB::ZLIB libz.a)
# libarchive's writers (the conductor and the CLI pack) pull its whole format table, which wants
# these shared libraries (`pkg-config --static --libs libarchive`); libxml2 alone brings ICU and
# libstdc++.so. A target that only reads tar.gz sets EW_ARCHIVE_READ_ONLY (edgewire-agent does):
# it then gets none of them, and --gc-sections drops the writers that would have needed them.
set(ew_archive_writer_libs)
foreach(lib IN ITEMS acl lzma zstd lz4 bz2 xml2)
  list(APPEND ew_archive_writer_libs "$<$<NOT:$<BOOL:$<TARGET_PROPERTY:EW_ARCHIVE_READ_ONLY>>>:${lib}>")
endforeach()
ew_use_static_archive(LibArchive::LibArchive libarchive.a PkgConfig::NETTLE ZLIB::ZLIB ${ew_archive_writer_libs})
