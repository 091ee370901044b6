"""Telemetry (issue 6): the JSONL event log loaded into SQLite, the SPEC 7 figures as SQL views,
``batty stats``, ``trace``, ``log``, ``digest``, and Datasette with a dashboard.

Nothing here imports sqlite-utils or Datasette at module top: cron starts batty every minute.
"""
