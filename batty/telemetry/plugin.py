"""The Datasette side of ``telemetry serve``: ``batty_since()`` on every connection.

The canned queries are the ``.sql`` files ``stats`` runs, and they read their window through
``batty_since(:since)`` (figures.py). Datasette hands them the ``since`` a person typed, so the
function must exist there too, or a date would be compared as text with the UTC ``ts`` and count
other events than ``stats --since`` (a date is local midnight in ``telemetry.timezone``).

``python -m batty.telemetry.plugin serve ...`` registers this module with Datasette's plugin
manager and runs Datasette's own command line: no entry point to install, no plugins folder.
"""

from __future__ import annotations

from typing import Any

from datasette import hookimpl


@hookimpl
def prepare_connection(conn: Any) -> None:
    from batty.telemetry.figures import register

    register(conn)  # in the zone the database's days were cut in (meta.timezone)


def main() -> None:
    import sys

    from datasette.cli import cli
    from datasette.plugins import pm

    pm.register(sys.modules[__name__], name="batty")
    cli(prog_name="datasette")


if __name__ == "__main__":
    main()
