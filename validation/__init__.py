"""Judging signatures: trust store, ETSI indications, reports."""
