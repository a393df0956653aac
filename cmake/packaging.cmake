# Debian packages (CPack DEB), one per component (deploy/scripts/package.sh builds them):
#   edgewire-common     the service account (sysusers.d) and the GPIO clients functions get at
#                       /opt/edgewire (both daemons run functions: the agent on a board, the
#                       conductor in its cloud runtime)
#   edgewire-agent      the board agent, its unit and /etc/edgewire/agent.toml
#   edgewire-conductor  the conductor, the operator CLI `edgewire`, its unit and conductor.toml
# Depends come from dpkg-shlibdeps (CPACK_DEBIAN_PACKAGE_SHLIBDEPS) plus what the daemons run
# rather than link. Configuration files are conffiles; maintainer scripts are in deploy/debian/.
# A package build configures with -DCMAKE_INSTALL_PREFIX=/usr -DEW_GPIO_CLIENTS_DIR=/usr/lib/edgewire/gpio
# so that the compiled-in paths are the installed ones.
set(EW_DEBIAN_DIR ${PROJECT_SOURCE_DIR}/deploy/debian)
# Bookworm ships units below /lib (the /usr-merge moratorium keeps packages' files where dpkg
# knows them); sysusers.d has always been below /usr/lib.
set(EW_UNIT_DIR /lib/systemd/system)

install(TARGETS edgewire-conductor edgewire RUNTIME DESTINATION bin COMPONENT conductor)
install(FILES deploy/systemd/edgewire-conductor.service DESTINATION ${EW_UNIT_DIR} COMPONENT conductor)
install(FILES deploy/config/conductor.toml DESTINATION /etc/edgewire COMPONENT conductor)
if(TARGET edgewire-agent)
  install(FILES deploy/systemd/edgewire-agent.service DESTINATION ${EW_UNIT_DIR} COMPONENT agent)
  install(FILES deploy/config/agent.toml DESTINATION /etc/edgewire COMPONENT agent)
  # Updates over the air (issue 16): the root helper and the units that start it.
  install(PROGRAMS deploy/scripts/edgewire-agent-update DESTINATION lib/edgewire COMPONENT agent)
  install(FILES deploy/systemd/edgewire-agent-update.path deploy/systemd/edgewire-agent-update.service
          DESTINATION ${EW_UNIT_DIR} COMPONENT agent)
  # The public keys updates must be signed by (the helper refuses every update while it is
  # empty): root's, 0755, filled by the installer (docs/INSTALL-PI.md "Update keys").
  install(DIRECTORY DESTINATION /etc/edgewire/update-keys COMPONENT agent)
endif()
install(FILES deploy/systemd/edgewire-sysusers.conf DESTINATION lib/sysusers.d RENAME edgewire.conf COMPONENT common)
foreach(component common agent conductor)
  install(FILES deploy/debian/copyright DESTINATION share/doc/edgewire-${component} COMPONENT ${component})
endforeach()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME edgewire)
set(CPACK_PACKAGE_VENDOR "Edgewire")
# Whoever builds and ships the packages: set it to your address (-DEW_PACKAGE_CONTACT=...).
set(EW_PACKAGE_CONTACT "Edgewire maintainers <edgewire@example.com>" CACHE STRING "Maintainer: of the .deb packages")
set(CPACK_PACKAGE_CONTACT "${EW_PACKAGE_CONTACT}")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL common agent conductor)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/edgewire/edgewire")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Maintainer scripts 0755, conffiles 0644 in the control archive, as dpkg and lintian want.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
    WORLD_READ WORLD_EXECUTE)
set(ew_version "${PROJECT_VERSION}-1")

set(CPACK_DEBIAN_COMMON_PACKAGE_NAME edgewire-common)
set(CPACK_COMPONENT_COMMON_DESCRIPTION "Edgewire shared files\nThe edgewire service account (systemd-sysusers) and the GPIO clients\n(gpio, edgewire_gpio.py, edgewire_gpio.h) that Edgewire functions use\ninside their containers.")
set(CPACK_DEBIAN_COMMON_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_COMMON_PACKAGE_CONTROL_EXTRA "${EW_DEBIAN_DIR}/edgewire-common/postinst;${EW_DEBIAN_DIR}/edgewire-common/postrm")

set(CPACK_DEBIAN_AGENT_PACKAGE_NAME edgewire-agent)
set(CPACK_COMPONENT_AGENT_DESCRIPTION "Edgewire board agent\nConnects a board (Raspberry Pi class) to an Edgewire conductor over\nWAMP/WebSocket and serves its GPIO, serverless functions in containers,\nflows and board management. Enrol once with `edgewire-agent enrol`;\nsystemd keeps it running.")
# The agent links all but libc statically (cmake/agent_static.cmake) and speaks systemd's notify
# protocol itself (device-agent/systemd/notifier.cpp); a container runtime is run, not linked.
# openssl: the update helper verifies packages' signatures with its CLI.
set(CPACK_DEBIAN_AGENT_PACKAGE_DEPENDS "edgewire-common (= ${ew_version}), openssl")
if(CMAKE_CROSSCOMPILING)
  # dpkg-shlibdeps reads the host's dpkg database, which has no arm64 libc6 (the sysroot is
  # unpacked, not installed). The static agent needs glibc only: the version dpkg-shlibdeps
  # computes for the native build of the same code on Debian 12.
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS OFF)
  string(APPEND CPACK_DEBIAN_AGENT_PACKAGE_DEPENDS ", libc6 (>= 2.36)")
  set(CPACK_DEBIAN_COMMON_PACKAGE_DEPENDS "adduser, libc6 (>= 2.34)")
endif()
set(CPACK_DEBIAN_AGENT_PACKAGE_RECOMMENDS "crun | runc | bubblewrap")
set(CPACK_DEBIAN_AGENT_PACKAGE_CONTROL_EXTRA "${EW_DEBIAN_DIR}/edgewire-agent/conffiles;${EW_DEBIAN_DIR}/edgewire-agent/postinst;${EW_DEBIAN_DIR}/edgewire-agent/prerm;${EW_DEBIAN_DIR}/edgewire-agent/postrm")

set(CPACK_DEBIAN_CONDUCTOR_PACKAGE_NAME edgewire-conductor)
set(CPACK_COMPONENT_CONDUCTOR_DESCRIPTION "Edgewire conductor and CLI\nThe cloud side of Edgewire: WAMP router for boards behind NAT, REST API,\nregistry (SQLite), serverless functions with placement, flows and\ntunnels; and the operator CLI `edgewire`.")
# adduser: the postinst creates the conductor's own account where systemd does not run.
set(CPACK_DEBIAN_CONDUCTOR_PACKAGE_DEPENDS "edgewire-common (= ${ew_version}), adduser")
set(CPACK_DEBIAN_CONDUCTOR_PACKAGE_RECOMMENDS "crun | runc | bubblewrap")
set(CPACK_DEBIAN_CONDUCTOR_PACKAGE_CONTROL_EXTRA "${EW_DEBIAN_DIR}/edgewire-conductor/conffiles;${EW_DEBIAN_DIR}/edgewire-conductor/postinst;${EW_DEBIAN_DIR}/edgewire-conductor/prerm;${EW_DEBIAN_DIR}/edgewire-conductor/postrm")

include(CPack)
