"""The ``calsync`` command line (Typer commands rendered with rich).

``main()`` is the console script. It imports the application lazily and the commands import what they need
inside their bodies, so ``calsync --help`` loads Typer and nothing else.
"""

from __future__ import annotations


def main() -> None:
    """Run the ``calsync`` command."""
    from calsync.cli.app import app

    app()
