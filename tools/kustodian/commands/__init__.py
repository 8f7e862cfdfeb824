"""Subcommands of the kustodian CLI, one module per command family."""
