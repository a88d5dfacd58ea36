"""Output for people and for scripts: per-host output, a summary table, JSON, progress, masking.

Colours and the progress bar appear only on a terminal (rich decides; ``NO_COLOR`` is honoured).
Anything that might echo a secret goes through :func:`mask` first.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from flaskfleet.ssh import HostResult

MASK = "********"
_STATUS_STYLE = {"ok": "green", "failed": "red", "error": "bold red"}


def console(stderr: bool = False) -> Console:
    """A console on stdout (or stderr); wide enough not to wrap tables when piped."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else int(os.environ.get("COLUMNS", "160"))
    return Console(file=stream, width=width, highlight=False, soft_wrap=False)


def from_ansi(text: str) -> Text:
    """Text whose ANSI colours (Ansible's) become styles: shown on a terminal, dropped elsewhere."""
    return Text.from_ansi(text)


def mask(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every (non-trivial) secret value replaced by ``********``."""
    for value in sorted((s for s in secrets if s and len(s) >= 3), key=len, reverse=True):
        text = text.replace(value, MASK)
    return text


def print_outputs(results: Sequence[HostResult], out: Console | None = None) -> None:
    """Each host's stdout/stderr, every line prefixed with the host name."""
    out = out or console()
    width = max((len(r.host) for r in results), default=0)
    for result in results:
        for stream, style in ((result.stdout, ""), (result.stderr, "yellow")):
            for line in stream.rstrip("\n").splitlines():
                prefix = f"[bold]{escape(result.host.ljust(width))}[/] | "
                out.print(prefix + (f"[{style}]{escape(line)}[/]" if style else escape(line)))


def _detail(result: HostResult) -> str:
    """The last column of the summary: the error, or a short note for transfers."""
    if result.error:
        return result.error
    if result.exit_code not in (None, 0):
        last = (result.stderr or result.stdout).strip().splitlines()
        return f"exit {result.exit_code}" + (f": {last[-1]}" if last else "")
    return result.stdout.strip() if result.changed is not None else ""


def summary_table(results: Sequence[HostResult], title: str) -> Table:
    """HOST / STATUS / EXIT / TIME / DETAIL, one row per host."""
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    for name, justify in (
        ("HOST", "left"),
        ("STATUS", "left"),
        ("EXIT", "right"),
        ("TIME", "right"),
        ("DETAIL", "left"),
    ):
        table.add_column(name, justify=justify, overflow="fold")
    for r in results:
        style = _STATUS_STYLE[r.status]
        exit_code = "" if r.exit_code is None else str(r.exit_code)
        table.add_row(escape(r.host), f"[{style}]{r.status}[/]", exit_code, f"{r.duration:.2f}s", escape(_detail(r)))
    return table


def summary_line(results: Sequence[HostResult], elapsed: float) -> str:
    """``5 ok, 1 failed in 3.2 s`` (plus ``changed`` for transfers)."""
    ok = sum(r.ok for r in results)
    changed = sum(bool(r.changed) for r in results)
    parts = [f"{ok} ok", f"{len(results) - ok} failed"]
    if any(r.changed is not None for r in results):
        parts.append(f"{changed} changed")
    return f"{len(results)} hosts: {', '.join(parts)} in {elapsed:.1f} s"


def report(results: Sequence[HostResult], title: str, elapsed: float, show_output: bool = True) -> None:
    """Per-host output, then the summary table and line."""
    out = console()
    if show_output:
        print_outputs(results, out)
    out.print(summary_table(results, title))
    style = "green" if all(r.ok for r in results) else "red"
    out.print(f"[{style}]{summary_line(results, elapsed)}[/]")


def print_json(data: Any) -> None:
    """Machine-readable output on stdout (no colours, no table)."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


@contextmanager
def progress(label: str, total: int, enabled: bool | None = None) -> Iterator[Any]:
    """A progress bar on stderr while hosts finish; yields ``advance(result)``.

    Shown only when stderr is a terminal and there is more than one host, so logs and pipes stay
    clean.
    """
    enabled = sys.stderr.isatty() and total > 1 if enabled is None else enabled
    if not enabled:
        yield lambda result: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda result: bar.advance(task)
