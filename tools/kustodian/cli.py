"""The kustodian command line: a click group that gathers the command families."""

from __future__ import annotations

import gc
import os
import sys
import threading

import click

from kustodian import __version__
from kustodian.errors import KustodianError


class _Group(click.Group):
    """Turns KustodianError into a one-line message and exit 2, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KustodianError as exc:
            click.echo(f"kustodian: error: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kustodian")
def cli() -> None:
    """Guard and release this GitOps repository."""


def _register() -> None:
    from kustodian.commands import check, cluster, release

    for command in (*check.COMMANDS, *release.COMMANDS, *cluster.COMMANDS):
        cli.add_command(command)


_register()


def main() -> None:
    # A short-lived CLI over large acyclic data (manifests, node trees, findings): Python's
    # cyclic collector would walk every loaded object again and again for nothing.
    gc.disable()
    try:
        cli(prog_name="kustodian")
    except SystemExit as done:
        _exit(done.code)
    _exit(0)


def _exit(code: object) -> None:
    """Exit without tearing down the heap object by object: after a large check that takes
    seconds for nothing. Only when no other thread is alive (nothing left to join), no
    profiler or tracer is attached, and the output is flushed; otherwise the normal way."""
    if code is not None and not isinstance(code, int):
        click.echo(str(code), err=True)
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)
    if threading.active_count() == 1 and sys.getprofile() is None and sys.gettrace() is None:
        os._exit(code or 0)   # (not under a profiler or coverage: they write at exit)
    sys.exit(code)
