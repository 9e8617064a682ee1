"""The domain's use cases: sealing, envelopes, sessions, batches, jobs."""
