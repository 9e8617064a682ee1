"""``python -m pakat``: the same as the ``pakat`` command.

An entry point, run and never imported: the one module of the ground floor
that names the command line above it (the layer test allows exactly this).
"""

from commands import entry_point

entry_point()
