"""Pakat: PAdES signing and validation for e-procurement bid envelopes."""

__version__ = "0.1.0"
