"""One exception type for bad user input, with the file, the key and the problem."""

from __future__ import annotations

import sys


class InputError(ValueError):
    """Bad user input: a grammar, an architecture or a config.

    The message always reads ``<file>: <key>: <problem>`` so that a user can find
    and fix the offending line without reading a traceback.

    Parameters
    ----------
    source: str
        The file the input came from (or a description such as ``"--config"``).
    key: str
        Dotted path of the offending key, e.g. ``classes.c1.rules[0].probability``.
    problem: str
        What is wrong, in one sentence.
    """

    def __init__(self, source: str, key: str, problem: str):
        self.source = str(source)
        self.key = key
        self.problem = problem
        where = f"{self.source}: {key}: " if key else f"{self.source}: "
        super().__init__(where + problem)


def key_path(parts) -> str:
    """Render a jsonschema-style path (``['classes', 'c1', 'rules', 0]``) as
    ``classes.c1.rules[0]``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class TrainingDiverged(RuntimeError):
    """Training stopped because the loss became NaN or infinite; the message names the
    architecture, the epoch and what to change."""


class DamagedOutputError(InputError):
    """An intermediate output of the workflow (a simulated split, a trained model) that is
    missing, truncated or does not match its manifest: the message is one line naming the
    file, the problem, and the output to delete or ``--forcerun``.

    Parameters
    ----------
    path: str or Path
        The damaged file.
    problem: str
        What is wrong with it.
    output: str or Path or None
        The workflow output it belongs to (a split folder, a ``model.pt``). Default: ``path``.
    """

    def __init__(self, path, problem: str, output=None):
        output = path if output is None else output
        super().__init__(path, "", f"{problem}; delete {output} and rerun, or rerun "
                                   f"snakemake with --forcerun {output}")


def quiet_interrupts() -> None:
    """Report Ctrl-C in one line instead of a traceback (other errors keep theirs).

    Ctrl-C reaches every running rule job at once, and Snakemake then shows each job's log:
    a traceback per job would bury what happened. Outputs are written atomically, so an
    interrupted job leaves nothing half-written behind. Installed by rule scripts (through
    :mod:`grammarbench`'s import) and by :func:`grammarbench.runtime.configure_logging`.
    """
    if sys.excepthook is sys.__excepthook__:
        sys.excepthook = _quiet_interrupt


def _quiet_interrupt(kind, value, traceback) -> None:
    if issubclass(kind, KeyboardInterrupt):
        print("interrupted (Ctrl-C); nothing half-written was kept", file=sys.stderr)
        return
    sys.__excepthook__(kind, value, traceback)
