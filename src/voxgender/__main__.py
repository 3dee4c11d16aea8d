"""``python -m voxgender``: the same as the ``voxgender`` command."""

from voxgender.cli.main import main

raise SystemExit(main())
