"""Use cases: tracker, records, accounts, (later) ivr, acd, screenpop, metrics, reports."""
