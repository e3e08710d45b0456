"""Subcommands of `python -m core`, one module each."""
