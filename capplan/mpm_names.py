"""The names of httpd's MPMs, and of the `--mpm` choice: the lowest layer, imported by every stage.

Input: none. Output: two `StrEnum`s whose values are the names httpd, the command line and the
reports use. Kept apart from the settings types so that the command line can build its options
without them.
"""

from __future__ import annotations

from enum import StrEnum


class Mpm(StrEnum):
    """httpd's three MPMs; the value is the name httpd, the command line and the reports use."""

    prefork = "prefork"
    worker = "worker"
    event = "event"


class MpmChoice(StrEnum):
    """Which MPMs a command sizes: the config's own (`current`), one of them, or `all` three."""

    current = "current"
    prefork = "prefork"
    worker = "worker"
    event = "event"
    all = "all"


class EventModel(StrEnum):
    """How event's connection level is computed: the closed form (milliseconds, every command's
    default) or the per-child chain with the shared accept queue (seconds; `--event-model`)."""

    closed_form = "closed-form"
    chain = "chain"
