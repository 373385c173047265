# Python glue: validate the config, expand the grid, constrain wildcards, list targets.
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

sys.path.insert(
    0, workflow.basedir
)  # the grammarbench package sits beside the Snakefile

from grammarbench.discovery.config import validate_discovery_config
from grammarbench.errors import InputError
from grammarbench.grid import build_grid, check_config, coerce_command_line

CONFIG_SCHEMA = Path(workflow.basedir) / "schemas" / "config.schema.yaml"
CONFIG_SOURCES = [str(f) for f in workflow.configfiles] or ["config/config.yaml"]
CONFIG_SOURCE = " + ".join(CONFIG_SOURCES)

# Check, fill defaults, then load and validate every grammar: all before any job starts,
# each problem as one line naming the file, the key and what is wrong.
try:
    config.update(coerce_command_line(config))
    check_config(config, CONFIG_SOURCE, CONFIG_SCHEMA)
    validate(config, schema=str(CONFIG_SCHEMA))
    GRID = build_grid(config, CONFIG_SOURCE, basedir=workflow.basedir)
    DISCOVERY_CONFIG = validate_discovery_config(
        config.get("discovery"), CONFIG_SOURCE, GRID.attribution
    )
except InputError as err:
    raise WorkflowError(f"bad input: {err}") from None

RESULTS = GRID.results
DATASETS = f"{RESULTS}/datasets"
MODELS = f"{RESULTS}/models"
EVALUATION = f"{RESULTS}/evaluation"
ORACLE = f"{RESULTS}/oracle"
ATTRIBUTIONS = f"{RESULTS}/attributions"
RECOVERY = f"{RESULTS}/recovery"
DISCOVERY = f"{RESULTS}/discovery"
# The attribution runs motif discovery searches (none: no discover stage).
DISCOVERY_RUNS = [run["name"] for run in DISCOVERY_CONFIG["runs"]]
# Snakemake's per-job `benchmark:` files (wall time, memory): the runtime table reads them.
RUNTIME = f"{RESULTS}/runtime"
# One trained model: a point of the grid (the same pattern under models/ and evaluation/).
MODEL = "{grammar}/seed{seed}/n{n_train}/{architecture}/mseed{model_seed}"
EVAL_SPLITS = ["validation", "test"]


def _alternatives(values):
    return "|".join(re.escape(str(v)) for v in values)


wildcard_constraints:
    grammar=_alternatives(GRID.grammars),
    seed=r"\d+",
    n_train=r"\d+",
    architecture=_alternatives(GRID.architectures) or "(?!)",
    model_seed=r"\d+",
    run=_alternatives(DISCOVERY_RUNS) or "(?!)",


# ---- paths


# Paths as wildcard patterns, not input functions: Snakemake fills them in without a Python
# call per job, which keeps paper-scale grids quick to plan.
TRAIN_SPLIT = f"{DATASETS}/{{grammar}}/seed{{seed}}/n{{n_train}}/train"


def heldout_split(split):
    return f"{DATASETS}/{{grammar}}/seed{{seed}}/heldout/{split}"


def grammar_path(wildcards):
    return GRID.grammar_paths[wildcards.grammar]


def heldout_sizes(wildcards):
    return GRID.heldout[wildcards.grammar]


def architecture_path(wildcards):
    return GRID.architecture_paths[wildcards.architecture]


def per_split(folder, kind):
    """One output per evaluated split, e.g. .../validation.metrics.tsv, .../test.metrics.tsv"""
    return [f"{folder}/{split}.{kind}.tsv" for split in EVAL_SPLITS]


# The config's train: keys that override every architecture's training options.
TRAIN_OVERRIDES = {
    key: config["train"][key] for key in ("max_epochs", "patience", "batch_size")
}


# ---- targets


def simulation_targets():
    rows = GRID.datasets.itertuples()
    targets = []
    for r in rows:
        base = f"{DATASETS}/{r.grammar}/seed{r.seed}"
        targets += [
            f"{base}/n{r.n_train}/train",
            f"{RESULTS}/diagnostics/{r.grammar}/seed{r.seed}/n{r.n_train}.positional.png",
        ]
    for grammar in GRID.grammars:
        for seed in GRID.seeds:
            targets.append(f"{DATASETS}/{grammar}/seed{seed}/heldout/test")
        targets.append(f"{RESULTS}/grammars/{grammar}/elements.tsv")
    return targets


# ---- the grid's tables: (keys, per-job file) pairs, built once at parse time


TABLES = f"{RESULTS}/tables"
FIGURES = f"{RESULTS}/figures"


def _model_points():
    return [
        r._asdict()
        for r in GRID.models.drop(columns="Index", errors="ignore").itertuples(
            index=False
        )
    ]


MODEL_POINTS = _model_points()
PREDICTIVE_JOBS = [
    (
        {**point, "split": split},
        f"{EVALUATION}/{MODEL.format(**point)}/{split}.metrics.tsv",
    )
    for point in MODEL_POINTS
    for split in EVAL_SPLITS
] + [
    (
        {
            "grammar": r.grammar,
            "seed": r.seed,
            "n_train": r.n_train,
            "architecture": "oracle",
            "model_seed": "",
            "split": split,
        },
        f"{ORACLE}/{r.grammar}/seed{r.seed}/{split}.metrics.tsv",
    )
    for r in (GRID.datasets.itertuples() if GRID.architectures else [])
    for split in EVAL_SPLITS
]
TRAINING_JOBS = [
    (point, f"{MODELS}/{MODEL.format(**point)}/history.tsv") for point in MODEL_POINTS
]
RECOVERY_JOBS = [
    ({**point, "run": run["name"]}, f"{RECOVERY}/{MODEL.format(**point)}.tsv")
    for point in MODEL_POINTS
    for run in (GRID.attribution["runs"] if GRID.attribution else [])
]
DISCOVERY_JOBS = [
    ({**point, "run": run}, f"{DISCOVERY}/{MODEL.format(**point)}/{run}.scores.tsv")
    for point in MODEL_POINTS
    for run in DISCOVERY_RUNS
]
# The tables of the stages that ran (the runtime table follows them).
STAGE_TABLES = (
    ["predictive", "training"]
    + (["recovery"] if GRID.attribution else [])
    + (["discovery"] if DISCOVERY_JOBS else [])
)
RUNTIME_JOBS = [
    ({"rule": rule, **point}, f"{RUNTIME}/{rule}/{MODEL.format(**point)}.tsv")
    for point in MODEL_POINTS
    for rule in ["train", "evaluate"]
    + (["attribute", "score"] if GRID.attribution else [])
] + [
    (
        {"rule": "discover", **point, "run": run},
        f"{RUNTIME}/discover/{MODEL.format(**point)}/{run}.tsv",
    )
    for point in MODEL_POINTS
    for run in DISCOVERY_RUNS
]


# Per-model report items (e.g. each model's ROC/PR curves) only while the grid is small
# enough to browse: on paper-scale grids thousands of embedded images would make the HTML
# report gigabytes, and each report flag costs the planner time per job. The grid-level
# figures summarise every model either way; the per-model files are written regardless.
MAX_MODELS_IN_REPORT = 100


def report_if_browsable(path, **report_options):
    if len(MODEL_POINTS) <= MAX_MODELS_IN_REPORT:
        return report(path, **report_options)
    return path


def table_inputs(jobs):
    return sorted({path for _, path in jobs})


def figure_targets():
    """The report's figures: one set per grid, each PNG with a PDF beside it."""
    if not GRID.architectures:
        return []
    names = ["predictive", "learning_curves", "runtime", "positional_heatmaps"]
    if GRID.attribution:
        names += ["recovery", "methods_heatmap", "attribution_tracks"]
        if any(run["reference"] for run in GRID.attribution["runs"]):
            names.append("reference_sweep")
    if DISCOVERY_JOBS:
        names += ["discovery", "discovery_logos"]
    return [f"{FIGURES}/{name}.png" for name in names]


def tracks_model():
    """The model whose attribution tracks the report shows: the largest training set of
    the first grammar, seed, architecture and model seed."""
    point = dict(MODEL_POINTS[0])
    point["n_train"] = max(GRID.n_train[point["grammar"]])
    return point


def get_final_output():
    """Everything, through the grid's tables and figures when there are models (the
    tables need every model's files, so listing those too would only slow planning)."""
    targets = simulation_targets() + [f"{RESULTS}/config.html"]
    if not GRID.architectures:
        return targets
    targets += [f"{TABLES}/{name}.tsv" for name in STAGE_TABLES + ["runtime"]]
    return targets + figure_targets()
