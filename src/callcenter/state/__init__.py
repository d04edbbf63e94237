"""Shared live state: in-process (embedded default) and Redis (several instances)."""
