"""The built-in job types, written on the public handler API (`service.sdk`) like any
plugin: they are its examples."""

from service.jobtypes.builtin import echo, markdown_html, noop, sleep

JOB_TYPES = [echo.ECHO, sleep.SLEEP, markdown_html.MARKDOWN_HTML, noop.TEST]
