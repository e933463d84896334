# Notifications end to end: a private redis-server, loopback SMTP (aiosmtpd),
# SMS provider and helpdesk webhook receiver (notify_sink.py), and the
# notifier (notify_harness) fed through the change stream. Both reading
# modes run: blocking (its own reader connection) and poll (timer-driven).
add_executable(notify_harness notify_harness.c)
target_link_libraries(notify_harness PRIVATE wismo_daemon)
add_test(NAME test_notify_e2e
    COMMAND ${WISMO_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/test_notify.sh
        $<TARGET_FILE:notify_harness> ${PROJECT_SOURCE_DIR}/contrib/templates)
set_tests_properties(test_notify_e2e PROPERTIES TIMEOUT 600)
add_test(NAME test_notify_poll
    COMMAND ${WISMO_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/test_notify_poll.sh
        $<TARGET_FILE:notify_harness> ${PROJECT_SOURCE_DIR}/contrib/templates)
set_tests_properties(test_notify_poll PROPERTIES TIMEOUT 300)
# wismod itself, with no templates folder: the compiled-in templates.
add_test(NAME test_notify_wismod
    COMMAND ${WISMO_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/test_notify_wismod.sh
        $<TARGET_FILE:wismod>)
set_tests_properties(test_notify_wismod PROPERTIES TIMEOUT 300)
