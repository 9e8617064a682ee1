"""Making signatures: PAdES profiles, key sources, timestamps and LTV data.

Knows nothing of Flask, SQL or RQ: bytes and configuration in, bytes out.
"""
