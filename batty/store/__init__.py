"""Adapters with one job each: files, locks, the event log, git."""
