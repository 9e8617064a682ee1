"""The development kit: never imported by production code.

Everything a developer machine or the test suite needs to stand in for the
national PKI and a real HSM, kept out of the production packages so that a
production install neither needs nor loads it (``tests/test_devkit_boundary.py``
holds the line):

- :mod:`devkit.devpki`: the development national PKI (root, general and
  government CAs, TSA, leaf profiles);
- :mod:`devkit.responders`: its OCSP, CRL and RFC 3161 TSA responders;
- :mod:`devkit.softhsm`: SoftHSM2 configuration, tokens and keys made in them;
- :mod:`devkit.devsetup`: the whole development environment (PKI, tokens, demo
  organisations and users, the ``pakat.yaml`` that points at them);
- :mod:`devkit.cli`: the ``pakat devpki`` command group, which the ``pakat``
  CLI loads by module name only when that command is run.
"""
