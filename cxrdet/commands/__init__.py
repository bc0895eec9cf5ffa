"""Subcommands of the ``cxrdet`` CLI, one module each (see :mod:`cxrdet.cli`)."""
