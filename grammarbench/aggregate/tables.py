# aggregate.py
# grammarbench: one tidy table per stage across the whole grid

"""One tidy table per stage across the whole grid, from the per-job files.

Every builder takes ``jobs``, one ``(keys, path)`` pair per per-job file (``keys``: the
job's wildcards as a dict, e.g. ``{"grammar": "one-motif", "seed": 1, "n_train": 500,
"architecture": "conv10-gmp-fc10", "model_seed": 1, "split": "test"}``; a dict with a
``path`` entry works too), and optionally ``expected``, the grid points the table must
cover (dicts or the rows of a DataFrame with the table's key columns; default: the keys
of ``jobs``). A grid point with no job, a missing, empty or unreadable file, or a file
without the rows the table needs raises :class:`IncompleteGridError` (a ``ValueError``)
naming *every* such point and why, so a table never has silent gaps; a job that is not
an expected grid point, or two jobs for one point, raise it too. Key values compare as
text, so Snakemake's string wildcards match the grid's integers.

Tables (tab-separated, long format: one row per observation)
------------------------------------------------------------
``predictive.tsv`` (:func:`predictive_table`), from each model's and the oracle's
``<split>.metrics.tsv`` (:mod:`grammarbench.models.evaluate`):

* ``grammar``, ``seed`` (data seed), ``n_train``, ``architecture`` (``oracle`` for the
  grammar's own classifier, repeated at every ``n_train`` so it sits beside the models),
  ``model_seed`` (empty for the oracle), ``split`` (``validation`` | ``test``);
* ``metric`` (``n``, ``loss``, ``accuracy``, ``subset_accuracy``, ``auroc``, ``auprc``,
  ``positive_fraction``), ``class`` (a class name, ``micro``, ``macro`` or ``all``),
  ``value`` (NaN where undefined). See :mod:`grammarbench.models.evaluate` for the definitions.

``recovery.tsv`` (:func:`recovery_table`), from each score job's table
(:func:`grammarbench.scoring.recovery.score_maps` written as TSV; label columns it carries are
read, the job's keys win):

* ``grammar``, ``seed``, ``n_train``, ``architecture``, ``model_seed``;
* ``run`` (the attribution run's unique name, e.g. ``integrated_gradients-zeros``:
  see :func:`grammarbench.attribution.validate_attribution_config`), ``method`` (the
  registry key), ``reference`` (``zeros``, ``uniform``, ``mean_composition``, ``shuffle``;
  empty for methods without one), ``n_references`` (references per sequence; 0 for
  none), ``truth`` (the ground truth scored against, config ``attribution.metrics.truth``:
  ``rescan``, the split's ``mask.npy``, or ``implanted``, ``mask_implanted.npy``);
* ``subset`` (``all`` maps, or those of ``correct``-ly classified examples), ``metric``
  (``position_auroc``, ``position_auprc``, ``attribution_mass``, ``window_auroc``,
  ``window_auprc``, ``agreement_<precision|recall|specificity|f1>_<smooth|thresholded>``,
  ``convergence_delta``, ``maps``), ``statistic`` (``mean``, ``se``, ``pooled``,
  ``mean_abs``, ``max_abs``, ``count``), ``element`` (window metrics: the element; else
  empty), ``value``, ``n`` (maps, positions or windows behind the value),
  ``positive_fraction`` (share of positives), ``random_ranking`` (what a uniformly random
  ranking scores in expectation: 0.5 for an AUROC, the exact expected average precision
  for an AUPRC, the positive fraction for the attribution mass). See
  :mod:`grammarbench.scoring.recovery` for the definitions.

``discovery.tsv`` (:func:`discovery_table`), from each discover job's
``<run>.scores.tsv`` (:func:`grammarbench.discovery.score_discovery` with the run's labels):

* ``grammar``, ``seed``, ``n_train``, ``architecture``, ``model_seed``, ``run``;
  ``method``, ``reference``, ``n_references`` (as in ``recovery.tsv``);
* ``element`` (``all`` for the run's motif-level scores, else a grammar element),
  ``metric`` (``n_patterns``, ``n_seqlets``, ``motif_recall``, ``motif_precision``,
  ``redundancy``, ``seqlet_precision``, ``seqlet_recall``; per element ``best_q``,
  ``recovered``, ``n_patterns``, ``seqlet_precision``, ``seqlet_recall``), ``value``
  (NaN where undefined, e.g. precision without patterns). See
  :mod:`grammarbench.discovery.scores` for the definitions.

``training.tsv`` (:func:`training_table`), from each model's ``history.tsv``
(:mod:`grammarbench.models.train`):

* ``grammar``, ``seed``, ``n_train``, ``architecture``, ``model_seed``, ``epoch``;
* ``split`` (``train``, ``validation``, or ``all`` for per-epoch quantities),
  ``metric`` (``loss``, ``accuracy``, ``auroc`` per split; ``learning_rate``,
  ``seconds``, ``examples_per_second``, ``best`` (1 on an epoch with a new lowest
  validation loss) for ``all``), ``value``.

``runtime.tsv`` (:func:`runtime_table`), from Snakemake's ``benchmark:`` files:

* ``rule``, then the job's wildcards (``grammar``, ``seed``, ``n_train``,
  ``architecture``, ``model_seed``, ``run``, ... : the union over the jobs, empty where a
  rule has no such wildcard), ``repeat`` (0-based, for ``benchmark: repeat(...)``);
* ``metric``, ``value``: ``s`` (wall-clock seconds), ``max_rss``, ``max_vms``,
  ``max_uss``, ``max_pss`` (peak memory, MB), ``io_in``, ``io_out`` (MB read and
  written), ``mean_load`` (CPU seconds / wall seconds × 100), ``cpu_time`` (user + system
  CPU seconds); with ``--benchmark-extended`` also ``threads``, ``cpu_usage``,
  ``input_size_mb``. ``NA`` (a job too short to sample) becomes NaN.

:func:`aggregate` builds and writes any of them in one call (what an aggregate rule
runs); :func:`read_table` reads one back with its key columns typed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from grammarbench.io import write_tsv

__all__ = [
    "IncompleteGridError",
    "PREDICTIVE_KEYS",
    "PREDICTIVE_COLUMNS",
    "RECOVERY_KEYS",
    "RECOVERY_COLUMNS",
    "DISCOVERY_KEYS",
    "DISCOVERY_COLUMNS",
    "TRAINING_KEYS",
    "TRAINING_COLUMNS",
    "RUNTIME_METRICS",
    "predictive_table",
    "recovery_table",
    "discovery_table",
    "training_table",
    "runtime_table",
    "aggregate",
    "read_table",
    "check_points",
]

MODEL_KEYS = ("grammar", "seed", "n_train", "architecture", "model_seed")
#: Key columns (a grid point) and all columns of each table.
PREDICTIVE_KEYS = (*MODEL_KEYS, "split")
PREDICTIVE_COLUMNS = (*PREDICTIVE_KEYS, "metric", "class", "value")
RECOVERY_KEYS = (*MODEL_KEYS, "run")
RECOVERY_COLUMNS = (*RECOVERY_KEYS, "method", "reference", "n_references", "truth", "subset", "metric",
                    "statistic", "element", "value", "n", "positive_fraction",
                    "random_ranking")
DISCOVERY_KEYS = (*MODEL_KEYS, "run")
DISCOVERY_COLUMNS = (*DISCOVERY_KEYS, "method", "reference", "n_references", "element", "metric",
                     "value")
TRAINING_KEYS = MODEL_KEYS
TRAINING_COLUMNS = (*TRAINING_KEYS, "epoch", "split", "metric", "value")
#: Wildcards that come first (in this order) in the runtime table; others follow sorted.
RUNTIME_KEY_ORDER = (*MODEL_KEYS, "run", "split")
#: Numeric columns of a Snakemake benchmark file (the rest, e.g. h:m:s, are dropped).
RUNTIME_METRICS = ("s", "max_rss", "max_vms", "max_uss", "max_pss", "io_in", "io_out",
                   "mean_load", "cpu_time", "threads", "cpu_usage", "input_size_mb")
#: Metrics every predictive metrics file must hold.
PREDICTIVE_REQUIRED = ("n", "loss", "accuracy", "auroc", "auprc")
#: Metrics every recovery (score) file must hold.
RECOVERY_REQUIRED = ("position_auroc", "position_auprc")
#: Integer key columns (nullable: the oracle has no model seed).
INTEGER_KEYS = ("seed", "n_train", "model_seed", "epoch", "repeat", "n_references")
#: Numeric non-key columns (empty cells read back as NaN).
NUMERIC_COLUMNS = ("value", "n", "positive_fraction", "random_ranking")
_RECOVERY_LABELS = ("method", "reference", "n_references", "truth")


class IncompleteGridError(ValueError):
    """Grid points without a usable result; ``problems`` maps each point's label to why."""

    def __init__(self, table: str, problems: dict[str, str], n_expected: int):
        self.table = table
        self.problems = problems
        lines = [f"  {point}: {why}" for point, why in problems.items()]
        super().__init__(f"{table}: {len(problems)} of {n_expected} grid point(s) "
                         "have no usable result:\n" + "\n".join(lines))


# ---------------------------------------------------------------------------------------
# jobs and grid points
# ---------------------------------------------------------------------------------------


def _as_jobs(jobs) -> list[tuple[dict, Path | None]]:
    """``(keys, path)`` pairs, or dicts with a ``path`` entry, as (dict, Path) pairs."""
    if isinstance(jobs, pd.DataFrame):
        jobs = jobs.to_dict("records")
    out = []
    for job in jobs:
        if isinstance(job, Mapping):
            keys = {k: v for k, v in job.items() if k != "path"}
            path = job.get("path")
        else:
            keys, path = job
            keys = dict(keys)
        out.append((keys, None if path is None else Path(path)))
    return out


def _text(value) -> str:
    """A key value as text: 1, "1", 1.0 and np.int64(1) all read "1"; None and NaN ""."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return ""
        if float(value).is_integer():
            return str(int(value))
    return str(value)


def _point(keys: Mapping, key_columns) -> tuple[str, ...]:
    return tuple(_text(keys.get(k)) for k in key_columns)


def _label(point: tuple[str, ...], key_columns) -> str:
    return ", ".join(f"{k}={v}" for k, v in zip(key_columns, point) if v != "") or "(no keys)"


def _expected_points(expected, jobs, key_columns) -> list[tuple[str, ...]]:
    if expected is None:
        points = [_point(keys, key_columns) for keys, _ in jobs]
    else:
        if isinstance(expected, pd.DataFrame):
            expected = expected.to_dict("records")
        points = []
        for row in expected:
            missing = [k for k in key_columns if k not in row]
            if missing:
                raise ValueError(f"expected grid point {dict(row)} lacks key(s) {missing}")
            points.append(_point(row, key_columns))
    return list(dict.fromkeys(points))


def _collect(name: str, jobs, expected, key_columns, read, columns, text_columns=()) -> pd.DataFrame:
    """Read every job's file with ``read(keys, path) -> DataFrame`` (which raises
    ValueError for a file without the rows it needs), check that every expected point
    has one and only one, and concatenate with the key columns first: the table of
    ``columns``, typed, with ``text_columns`` as text (an empty table if there is no row)."""
    jobs = _as_jobs(jobs)
    points = _expected_points(expected, jobs, key_columns)
    wanted = set(points)
    problems: dict[str, str] = {}
    by_point: dict[tuple[str, ...], list] = {}
    for keys, path in jobs:
        by_point.setdefault(_point(keys, key_columns), []).append((keys, path))
    parts = []
    for point in points:
        label = _label(point, key_columns)
        found = by_point.get(point, [])
        if not found:
            problems[label] = "no job for this grid point"
            continue
        if len(found) > 1:
            problems[label] = "several files: " + ", ".join(str(p) for _, p in found)
            continue
        keys, path = found[0]
        if path is None:
            problems[label] = "no file given"
            continue
        if not path.is_file():
            problems[label] = f"{path}: file not found"
            continue
        if path.stat().st_size == 0:
            problems[label] = f"{path}: empty file"
            continue
        try:
            table = read(keys, path)
        except (ValueError, KeyError, pd.errors.ParserError) as err:
            problems[label] = f"{path}: {err}"
            continue
        for i, key in enumerate(key_columns):
            table.insert(i, key, keys.get(key, ""))
        parts.append(table)
    for point in by_point:
        if point not in wanted:
            problems[_label(point, key_columns)] = ("not a grid point of this table: "
                                                   + ", ".join(str(p) for _, p in by_point[point]))
    if problems:
        raise IncompleteGridError(name, problems, len(points))
    if not parts:
        return _empty(columns)
    table = pd.concat(parts, ignore_index=True)
    for column in text_columns:
        table[column] = table[column].map(_text)
    return _typed(table, columns)


def _read_tsv(path: Path) -> pd.DataFrame:
    # empty cells stay "" (an oracle's model seed, a metric's element); only nan/NaN/NA are NaN
    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=["nan", "NaN", "NA"])


def _typed(table: pd.DataFrame, columns) -> pd.DataFrame:
    """Key columns as nullable integers where every value is an integer (or empty)."""
    for col in INTEGER_KEYS:
        if col in table.columns:
            values = pd.to_numeric(table[col].replace("", np.nan), errors="coerce")
            original_missing = table[col].isna() | (table[col].astype(str) == "")
            if not (values.isna() & ~original_missing).any() and \
                    np.all(np.mod(values.dropna(), 1) == 0):
                table[col] = values.astype("Int64")
    for col in NUMERIC_COLUMNS:
        if col in table.columns:
            table[col] = pd.to_numeric(table[col].replace("", np.nan), errors="coerce").astype(float)
    return table.reindex(columns=list(columns)) if columns is not None else table


# ---------------------------------------------------------------------------------------
# the tables
# ---------------------------------------------------------------------------------------


def predictive_table(jobs, expected=None) -> pd.DataFrame:
    """The grid's predictive metrics (``predictive.tsv``; columns :data:`PREDICTIVE_COLUMNS`).

    Parameters
    ----------
    jobs: iterable
        ``(keys, path)`` per metrics file: keys :data:`PREDICTIVE_KEYS` (the oracle's
        ``architecture`` is ``oracle`` and its ``model_seed`` empty), path a
        ``<split>.metrics.tsv`` written by :func:`grammarbench.models.evaluate.write_evaluation`.
    expected: iterable of dict, DataFrame or None
        Grid points the table must cover. Default None: the keys of ``jobs``.

    Raises
    ------
    IncompleteGridError
        Naming every expected point without a metrics file holding
        :data:`PREDICTIVE_REQUIRED`.
    """

    def read(keys, path):
        table = _read_tsv(path)
        missing = {"metric", "class", "value"} - set(table.columns)
        if missing:
            raise ValueError(f"not a metrics table: no column(s) {sorted(missing)}")
        absent = [m for m in PREDICTIVE_REQUIRED if m not in set(table["metric"])]
        if absent:
            raise ValueError(f"no {', '.join(absent)} row(s)")
        return table[["metric", "class", "value"]].copy()

    return _collect("predictive table", jobs, expected, PREDICTIVE_KEYS, read, PREDICTIVE_COLUMNS)


def recovery_table(jobs, expected=None) -> pd.DataFrame:
    """The grid's grammar-recovery metrics (``recovery.tsv``; columns :data:`RECOVERY_COLUMNS`).

    Parameters
    ----------
    jobs: iterable
        ``(keys, path)`` per score file: keys :data:`RECOVERY_KEYS` plus, unless the file
        carries them as label columns, ``method``, ``reference`` and ``n_references``;
        path a TSV of :func:`grammarbench.scoring.recovery.score_maps`' table.
    expected: iterable of dict, DataFrame or None
        Grid points (:data:`RECOVERY_KEYS`) the table must cover. Default: the jobs' keys.

    Raises
    ------
    IncompleteGridError
        Naming every expected point without a score file holding
        :data:`RECOVERY_REQUIRED` for every subset it scored.
    """
    from grammarbench.scoring.recovery import METRIC_COLUMNS

    def read(keys, path):
        table = _read_tsv(path)
        if "run" in table.columns and "run" in keys:
            # the benchmark rule scores every run of one model into one file
            table = table[table["run"].map(_text) == _text(keys["run"])]
            if not len(table):
                raise ValueError(f"no rows of run {keys['run']!r}")
        missing = set(METRIC_COLUMNS) - set(table.columns)
        if missing:
            raise ValueError(f"not a score table: no column(s) {sorted(missing)}")
        for subset, rows in table.groupby("subset"):
            scored = rows.loc[rows["metric"] == "maps", "value"]
            if len(scored) and scored.iloc[0] == 0:
                continue  # no map in this subset (e.g. no correctly classified example)
            absent = [m for m in RECOVERY_REQUIRED if m not in set(rows["metric"])]
            if absent:
                raise ValueError(f"subset {subset!r}: no {', '.join(absent)} row(s)")
        out = table[list(METRIC_COLUMNS)].copy()
        for label in _RECOVERY_LABELS:
            if label in keys:
                value = keys[label]
            elif label in table.columns:
                values = table[label].unique()
                if len(values) != 1:
                    raise ValueError(f"column {label!r} holds several values: {list(values)}")
                value = values[0]
            elif label == "n_references":
                value = ""
            elif label == "truth":
                value = "rescan"  # score files written before the setting existed
            else:
                raise ValueError(f"no {label!r}: give it in the job's keys or as a column")
            out.insert(_RECOVERY_LABELS.index(label), label, value)
        return out

    return _collect("recovery table", jobs, expected, RECOVERY_KEYS, read, RECOVERY_COLUMNS,
                    text_columns=("reference", "element"))


def discovery_table(jobs, expected=None) -> pd.DataFrame:
    """The grid's motif-discovery scores (``discovery.tsv``; columns :data:`DISCOVERY_COLUMNS`).

    Parameters
    ----------
    jobs: iterable
        ``(keys, path)`` per discover job: keys :data:`DISCOVERY_KEYS`, path its
        ``<run>.scores.tsv`` (:func:`grammarbench.discovery.stage.discover_run`).
    expected: iterable of dict, DataFrame or None
        Grid points the table must cover. Default: the jobs' keys.

    Raises
    ------
    IncompleteGridError
        Naming every expected point without a scores file holding its ``motif_recall``.
    """
    columns = list(DISCOVERY_COLUMNS[len(DISCOVERY_KEYS):])

    def read(keys, path):
        table = _read_tsv(path)
        missing = set(columns) - set(table.columns)
        if missing:
            raise ValueError(f"not a discovery scores table: no column(s) {sorted(missing)}")
        if "motif_recall" not in set(table["metric"]):
            raise ValueError("no motif_recall row")
        return table[columns].copy()

    return _collect("discovery table", jobs, expected, DISCOVERY_KEYS, read, DISCOVERY_COLUMNS,
                    text_columns=("reference",))


def training_table(jobs, expected=None) -> pd.DataFrame:
    """Every model's per-epoch history (``training.tsv``; columns :data:`TRAINING_COLUMNS`).

    Parameters
    ----------
    jobs: iterable
        ``(keys, path)`` per trained model: keys :data:`TRAINING_KEYS`, path its
        ``history.tsv`` (:data:`grammarbench.models.train.HISTORY_COLUMNS`).
    expected: iterable of dict, DataFrame or None
        Models the table must cover. Default: the jobs' keys.

    Raises
    ------
    IncompleteGridError
        Naming every expected model without a history of at least one epoch.
    """

    def read(keys, path):
        history = _read_tsv(path)
        if "epoch" not in history.columns:
            raise ValueError("not a training history: no 'epoch' column")
        if not len(history):
            raise ValueError("no epoch recorded")
        long = history.melt(id_vars="epoch", var_name="column", value_name="value")
        parts = long["column"].str.extract(r"^(train|validation)_(.+)$")
        long["split"] = parts[0].fillna("all")
        long["metric"] = parts[1].fillna(long["column"])
        return long[["epoch", "split", "metric", "value"]]

    return _collect("training table", jobs, expected, TRAINING_KEYS, read, TRAINING_COLUMNS)


def runtime_table(jobs, expected=None) -> pd.DataFrame:
    """Wall time, peak memory and I/O of every benchmarked job (``runtime.tsv``).

    Parameters
    ----------
    jobs: iterable
        ``(keys, path)`` per ``benchmark:`` file: keys ``rule`` and the job's wildcards,
        path the TSV Snakemake wrote (columns ``s``, ``h:m:s``, ``max_rss``, ...; one row
        per repeat).
    expected: iterable of dict, DataFrame or None
        Jobs (``rule`` + wildcards) the table must cover. Default: the jobs' keys.

    Returns
    -------
    table: pandas.DataFrame
        ``rule``, the wildcards (see the module docstring), ``repeat``, ``metric``,
        ``value``.

    Raises
    ------
    IncompleteGridError
        Naming every expected job without a benchmark file with a row.
    """
    jobs = _as_jobs(jobs)
    names = {k for keys, _ in jobs for k in keys}
    if expected is not None:
        rows = expected.to_dict("records") if isinstance(expected, pd.DataFrame) else list(expected)
        names |= {k for row in rows for k in row}
        expected = [{k: row.get(k, "") for k in names} for row in rows]
    if any("rule" not in keys for keys, _ in jobs):
        raise ValueError("every runtime job needs a 'rule' key")
    wildcards = [k for k in RUNTIME_KEY_ORDER if k in names]
    wildcards += sorted(names - set(wildcards) - {"rule"})
    key_columns = ("rule", *wildcards)

    def read(keys, path):
        bench = _read_tsv(path)
        if "s" not in bench.columns:
            raise ValueError("not a Snakemake benchmark file: no 's' column")
        if not len(bench):
            raise ValueError("no benchmark row")
        metrics = [c for c in RUNTIME_METRICS if c in bench.columns]
        bench = bench[metrics].apply(pd.to_numeric, errors="coerce")
        bench.insert(0, "repeat", np.arange(len(bench)))
        return bench.melt(id_vars="repeat", var_name="metric", value_name="value")

    return _collect("runtime table", jobs, expected, key_columns, read,
                    (*key_columns, "repeat", "metric", "value"))


def _empty(columns) -> pd.DataFrame:
    return pd.DataFrame(columns=list(columns))


# ---------------------------------------------------------------------------------------
# checks, I/O, the one call of an aggregate rule
# ---------------------------------------------------------------------------------------


def check_points(table: pd.DataFrame, expected, key_columns, where: Mapping | None = None,
                 name: str = "table") -> None:
    """Check that ``table`` holds exactly one row per expected grid point among the rows
    matching ``where`` (column → value), e.g. ``where={"metric": "auroc", "class":
    "macro"}``; raises :class:`IncompleteGridError` naming the missing and repeated points.
    """
    rows = table
    for col, value in (where or {}).items():
        rows = rows[rows[col].map(_text) == _text(value)]
    counts: dict[tuple, int] = {}
    for values in rows[list(key_columns)].itertuples(index=False):
        point = tuple(_text(v) for v in values)
        counts[point] = counts.get(point, 0) + 1
    points = _expected_points(expected, [], key_columns)
    problems = {}
    for point in points:
        n = counts.get(point, 0)
        if n != 1:
            problems[_label(point, key_columns)] = "no row" if n == 0 else f"{n} rows"
    for point in set(counts) - set(points):
        problems[_label(point, key_columns)] = "not an expected grid point"
    if problems:
        what = ", ".join(f"{k}={v}" for k, v in (where or {}).items())
        raise IncompleteGridError(f"{name}{f' ({what})' if what else ''}", problems, len(points))


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a table written by :func:`grammarbench.io.write_tsv`: empty cells stay empty strings, the
    integer keys (seed, n_train, model_seed, epoch, ...) come back as nullable integers."""
    return _typed(_read_tsv(Path(path)), None)


BUILDERS = {
    "predictive": predictive_table,
    "recovery": recovery_table,
    "discovery": discovery_table,
    "training": training_table,
    "runtime": runtime_table,
}
#: Each table's section of the report (beside its stage's figures) and its caption, a
#: Jinja template under ``report/``.
REPORT = {
    "predictive": ("2. Predictive performance", "tables/predictive.rst"),
    "training": ("2. Predictive performance", "tables/training.rst"),
    "recovery": ("3. Grammar recovery", "tables/recovery.rst"),
    "runtime": ("4. Runtime", "tables/runtime.rst"),
    "discovery": ("5. Motif discovery", "tables/discovery.rst"),
}


def aggregate(kind: str, jobs, output: str | os.PathLike, expected=None) -> pd.DataFrame:
    """Build the ``kind`` table (``predictive``, ``recovery``, ``discovery``, ``training`` or
    ``runtime``) from ``jobs`` and write it to ``output``: the one call of the ``aggregate`` rule.

    Raises
    ------
    IncompleteGridError
        Before anything is written, naming every missing grid point.
    """
    if kind not in BUILDERS:
        raise ValueError(f"kind must be one of {', '.join(BUILDERS)}; got {kind!r}")
    table = BUILDERS[kind](jobs, expected)
    write_tsv(table, output)
    return table
