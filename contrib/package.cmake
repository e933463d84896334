# Install (FHS) and the Debian package (cpack -G DEB).
#
# The prefix defaults to /usr, so that `cmake --install` puts the daemon
# where a package would: /usr/sbin/wismod, /usr/bin/wismoctl,
# /usr/share/wismo/templates, /etc/wismo/wismo.ini, /lib/systemd/system,
# /var/lib/wismo, the man pages. -DCMAKE_INSTALL_PREFIX=/usr/local moves
# everything under it (etc/ and var/ too).
include(GNUInstallDirs)

if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    set(WISMO_UNITDIR_DEFAULT /lib/systemd/system)
else()
    set(WISMO_UNITDIR_DEFAULT ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
endif()
set(WISMO_SYSTEMD_UNITDIR "" CACHE PATH
    "systemd unit directory (empty: /lib/systemd/system under /usr)")
if(WISMO_SYSTEMD_UNITDIR)
    set(WISMO_UNITDIR ${WISMO_SYSTEMD_UNITDIR})
else()
    set(WISMO_UNITDIR ${WISMO_UNITDIR_DEFAULT})
endif()
set(WISMO_CONFDIR ${CMAKE_INSTALL_FULL_SYSCONFDIR}/wismo)
set(WISMO_STATEDIR ${CMAKE_INSTALL_FULL_LOCALSTATEDIR}/lib/wismo)

install(TARGETS wismod RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(TARGETS wismoctl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/contrib/templates/
    DESTINATION ${CMAKE_INSTALL_DATADIR}/wismo/templates
    FILES_MATCHING PATTERN "*.sms" PATTERN "*.email")
install(FILES ${PROJECT_SOURCE_DIR}/contrib/wismo.example.ini
    DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${PROJECT_SOURCE_DIR}/contrib/wismo.example.ini
    DESTINATION ${WISMO_CONFDIR} RENAME wismo.ini
    PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
install(DIRECTORY DESTINATION ${WISMO_STATEDIR})

# The unit names /usr/sbin and /etc/wismo: other prefixes get their own.
file(READ ${PROJECT_SOURCE_DIR}/contrib/wismod.service unit)
string(REPLACE "/usr/sbin/" "${CMAKE_INSTALL_FULL_SBINDIR}/" unit "${unit}")
string(REPLACE "/etc/wismo/" "${WISMO_CONFDIR}/" unit "${unit}")
string(REPLACE "/var/lib/wismo" "${WISMO_STATEDIR}" unit "${unit}")
file(WRITE ${PROJECT_BINARY_DIR}/wismod.service "${unit}")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
    ${PROJECT_SOURCE_DIR}/contrib/wismod.service)
install(FILES ${PROJECT_BINARY_DIR}/wismod.service DESTINATION ${WISMO_UNITDIR})

install(FILES ${PROJECT_SOURCE_DIR}/contrib/man/wismod.8
    DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES ${PROJECT_SOURCE_DIR}/contrib/man/wismoctl.1
    DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${PROJECT_SOURCE_DIR}/contrib/man/wismo.ini.5
    DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)

# cpack -G DEB: wismo_<version>_<arch>.deb. The shared libraries' packages
# come from dpkg-shlibdeps; redis-server runs the private Redis, adduser
# makes the service user.
set(CPACK_PACKAGE_NAME wismo)
set(CPACK_PACKAGE_VENDOR "wismo")
set(CPACK_PACKAGE_CONTACT "wismo maintainers <maintainers@wismo.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "shipment-tracking daemon: carriers polled, customers told of delays")
set(CPACK_PACKAGE_DESCRIPTION
    "wismod polls carrier tracking APIs for the shipments a shop registers,\n\
normalises their events into one model kept in Redis, answers \"where is my\n\
order?\" over HTTP and tells customers about delays before they ask.")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "redis-server (>= 5:7.0), adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/contrib/debian/postinst
    ${PROJECT_SOURCE_DIR}/contrib/debian/prerm
    ${PROJECT_SOURCE_DIR}/contrib/debian/postrm
    ${PROJECT_SOURCE_DIR}/contrib/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_GENERATOR DEB)
include(CPack)
