"""What a deployment configures: PKCS#11 seal keys, trust, validation policy, platforms, API keys, webhooks.

The deployment file's reader lives in :mod:`hsm_config.deployment`; the
national root it trusts by default ships in ``trust/``. The development PKI,
its responders and the SoftHSM tooling that used to sit here are in
:mod:`devkit`, which production code never imports.
"""
