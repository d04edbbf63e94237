"""Pure domain model: no I/O, no third-party imports."""
