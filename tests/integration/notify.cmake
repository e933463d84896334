# Notifications end to end: a private redis-server, loopback SMTP (aiosmtpd),
# SMS provider and helpdesk webhook receiver (notify_sink.py), and the
# notifier (notify_harness) fed through the change stream. Both reading
# modes run: blocking (its own reader connection) and poll (timer-driven).
add_executable(notify_harness notify_harness.c)
target_link_libraries(notify_harness PRIVATE wismo_daemon)
script_test(test_notify_e2e test_notify.sh 600
    $<TARGET_FILE:notify_harness> ${PROJECT_SOURCE_DIR}/contrib/templates)
script_test(test_notify_poll test_notify_poll.sh 300
    $<TARGET_FILE:notify_harness> ${PROJECT_SOURCE_DIR}/contrib/templates)
# wismod itself, with no templates folder: the compiled-in templates.
script_test(test_notify_wismod test_notify_wismod.sh 300 $<TARGET_FILE:wismod>)
