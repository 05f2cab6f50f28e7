"""The built-in job types, written on the public handler API (`service.sdk`) like any
plugin: they are its examples."""

from typing import Any

from service.jobtypes.builtin import echo, markdown_html, noop, sleep, typewriter
from service.sdk import JobType

JOB_TYPES: list[JobType[Any]] = [
    echo.ECHO,
    sleep.SLEEP,
    markdown_html.MARKDOWN_HTML,
    noop.TEST,
    typewriter.TYPEWRITER,
]
