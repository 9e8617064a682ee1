"""``python -m pakat``: the same as the ``pakat`` command."""

from pakat.cli import main

main(prog_name="pakat")
