"""``python -m voxgender``: the same as the ``voxgender`` command."""

from .cli import main

raise SystemExit(main())
