# The Debian package of gateway-queue, built by CPack:
#   cmake -S . -B build-package -DCMAKE_BUILD_TYPE=Release -DGQ_BUILD_TESTS=OFF -DGQ_BUILD_BENCH=OFF
#   cmake --build build-package --target gateway-queue && (cd build-package && cpack -G DEB)
# It holds /usr/bin/gateway-queue, the systemd unit, the settings file (a conffile), the manual
# page, the copyright file and changelog, and the maintainer scripts that create the system user
# and the state directory (deploy/debian/, whose README.md is the operator's guide).
# Included from the top-level CMakeLists.txt after the binary's install() rule.
include_guard(GLOBAL)

set(gq_debian_dir "${CMAKE_CURRENT_LIST_DIR}/../deploy/debian")
cmake_path(NORMAL_PATH gq_debian_dir)
set(gq_package_files "${CMAKE_CURRENT_BINARY_DIR}/package")

# The version: GQ_PACKAGE_VERSION when the build defines one, else the project's. The Debian
# revision (the part after the last "-") counts rebuilds of one upstream version; with it the
# package is non-native, so its changelog is changelog.Debian.gz.
if(DEFINED GQ_PACKAGE_VERSION AND NOT GQ_PACKAGE_VERSION STREQUAL "")
  set(gq_package_upstream "${GQ_PACKAGE_VERSION}")
else()
  set(gq_package_upstream "${PROJECT_VERSION}")
endif()
set(GQ_PACKAGE_RELEASE "1" CACHE STRING "Debian revision of the gateway-queue package")
if(NOT gq_package_upstream MATCHES "^[0-9][A-Za-z0-9.+~-]*$")
  message(FATAL_ERROR "package version \"${gq_package_upstream}\" is not a Debian upstream "
                      "version (a digit, then letters, digits and . + ~ -)")
endif()
if(NOT GQ_PACKAGE_RELEASE MATCHES "^[A-Za-z0-9.+~]+$")
  message(FATAL_ERROR "GQ_PACKAGE_RELEASE \"${GQ_PACKAGE_RELEASE}\" is not a Debian revision")
endif()
# Whoever publishes the package names themselves here; Debian requires a name and an address.
# The default's domain is reserved (RFC 2606) and delivers nowhere.
set(GQ_PACKAGE_MAINTAINER "gateway-queue authors <maintainers@gateway-queue.invalid>"
    CACHE STRING "Maintainer field of the Debian package: Name <address>")

# Generated at configure time, so that `--target gateway-queue` is all a package needs built:
# the manual page and the changelog, compressed the way Debian wants (gzip -9, no name, no
# time stamp, so the same input gives the same bytes).
find_program(GQ_GZIP gzip REQUIRED)
file(MAKE_DIRECTORY "${gq_package_files}")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             "${gq_debian_dir}/gateway-queue.1" "${gq_debian_dir}/changelog.in")
# The changelog's date: SOURCE_DATE_EPOCH when set (reproducible builds), else now.
string(TIMESTAMP gq_package_date "%a, %d %b %Y %H:%M:%S +0000" UTC)
set(gq_package_version "${gq_package_upstream}-${GQ_PACKAGE_RELEASE}")
configure_file("${gq_debian_dir}/changelog.in" "${gq_package_files}/changelog.Debian" @ONLY)
foreach(gq_plain IN ITEMS "${gq_debian_dir}/gateway-queue.1" "${gq_package_files}/changelog.Debian")
  get_filename_component(gq_name "${gq_plain}" NAME)
  execute_process(COMMAND "${GQ_GZIP}" -9 -n -c "${gq_plain}"
                  OUTPUT_FILE "${gq_package_files}/${gq_name}.gz" RESULT_VARIABLE gq_gzip_failed)
  if(gq_gzip_failed)
    message(FATAL_ERROR "gzip ${gq_plain}: ${gq_gzip_failed}")
  endif()
endforeach()
# dpkg keeps an operator's edits of a conffile across upgrades.
file(WRITE "${gq_package_files}/conffiles" "/etc/gateway-queue/gateway-queue.env\n")

# The package's own files, in a component of their own that a plain `cmake --install` skips
# (EXCLUDE_FROM_ALL): installing from source puts the binary in the prefix and writes nothing to
# /etc or /lib. CPack below installs both components into the one package.
set(gq_doc "share/doc/gateway-queue")
install(FILES "${gq_debian_dir}/gateway-queue.service" DESTINATION /lib/systemd/system
        COMPONENT debian EXCLUDE_FROM_ALL)
# 0600 root: it may hold settings an operator considers private; systemd reads it as root.
install(FILES "${gq_debian_dir}/gateway-queue.env" DESTINATION /etc/gateway-queue
        PERMISSIONS OWNER_READ OWNER_WRITE COMPONENT debian EXCLUDE_FROM_ALL)
install(FILES "${gq_package_files}/gateway-queue.1.gz" DESTINATION share/man/man1
        COMPONENT debian EXCLUDE_FROM_ALL)
install(FILES "${gq_debian_dir}/copyright" "${gq_package_files}/changelog.Debian.gz"
        DESTINATION "${gq_doc}" COMPONENT debian EXCLUDE_FROM_ALL)
install(FILES "${gq_debian_dir}/README.md" DESTINATION "${gq_doc}" RENAME README.Debian
        COMPONENT debian EXCLUDE_FROM_ALL)
install(FILES "${gq_debian_dir}/lintian-overrides" DESTINATION share/lintian/overrides
        RENAME gateway-queue COMPONENT debian EXCLUDE_FROM_ALL)

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "gateway-queue")
set(CPACK_PACKAGE_VENDOR "the gateway-queue authors")
set(CPACK_PACKAGE_VERSION "${gq_package_upstream}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "paces the gateway IDENTIFYs of a Discord bot's shards")
# Lines of at most 79 characters (lintian).
set(CPACK_PACKAGE_DESCRIPTION
    "gateway-queue is an HTTP server that the shards of a Discord bot, spread over
many processes, ask before each gateway IDENTIFY. It answers when the shard may
identify: one per 5 seconds per max_concurrency bucket, within the daily budget
of session starts. Every grant is committed to a journal (SQLite, or
PostgreSQL) before it is sent, so a restarted queue keeps the spacing and the
budget. It speaks the API of twilight's gateway-queue and exports Prometheus
metrics.

This package runs it as the systemd service gateway-queue.service, as the
system user gateway-queue, with its journal in /var/lib/gateway-queue.")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON)
# Both components in one package; the binary's install() rule names no component.
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_COMPONENTS_ALL Unspecified debian)
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

set(CPACK_DEBIAN_PACKAGE_NAME "gateway-queue")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # gateway-queue_<version>-<revision>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_VERSION "${gq_package_upstream}")
set(CPACK_DEBIAN_PACKAGE_RELEASE "${GQ_PACKAGE_RELEASE}")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${GQ_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION "net")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
# The shared libraries' packages, from dpkg-shlibdeps (package dpkg-dev); adduser for postinst.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${gq_debian_dir}/postinst" "${gq_debian_dir}/prerm" "${gq_debian_dir}/postrm"
    "${gq_package_files}/conffiles")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
