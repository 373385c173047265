# Python glue: validate the config, expand the grid, constrain wildcards, list targets.
import gc
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

sys.path.insert(
    0, workflow.basedir
)  # the grammarbench package sits beside the Snakefile

from grammarbench.aggregate.figures import FIGURES as FIGURE_REGISTRY
from grammarbench.aggregate.figures import applicable, render_caption
from grammarbench.aggregate.tables import REPORT as TABLE_REPORT
from grammarbench.errors import InputError
from grammarbench.grid import (
    COMMAND_LINE,
    build_grid,
    check_config,
    check_disk_space,
    resolve_config,
)


def _check_each_script_once():
    """While it plans, Snakemake (9.x) reads the script of every job through its source
    cache to check that it exists: three smart_open URI parses per job, about a fifth of
    planning a paper-scale grid. A script path without wildcards is the same file for every
    job, so one check per path says the same; a path with wildcards is checked per job.
    """
    try:
        from snakemake.dag import ScriptProcessor
    except ImportError:
        return
    check = ScriptProcessor.process_job
    if getattr(check, "once_per_rule", False):
        return
    checked = set()

    def process_job(self, job):
        script = getattr(job.rule, self.script_type, None)
        key = (self.script_type, str(job.rule.basedir), str(script))
        if script is None or "{" in str(script) or key not in checked:
            check(self, job)
            checked.add(key)

    process_job.once_per_rule = True
    ScriptProcessor.process_job = process_job


_check_each_script_once()


def _read_each_signature_once():
    """Snakemake (9.x) reads a function's signature (inspect.signature) every time it calls
    an input function or evaluates a resource, and for a resource it reads it from a new
    bound method each time: about six signatures per job, a twentieth of planning a
    paper-scale grid. A function's parameters are fixed when it is defined, so they are read
    once per function (the same for every instance a method is bound to); the functions are
    held weakly, so closures made per job are not kept alive by the cache.
    """
    try:
        import snakemake.common as snakemake_common
        import snakemake.rules as snakemake_rules
    except ImportError:
        return
    read = getattr(snakemake_common, "get_function_params", None)
    overwrite_attr = getattr(snakemake_common, "FUNC_OVERWRITE_PARAMS_ATTR", None)
    if read is None or overwrite_attr is None or getattr(read, "cached", False):
        return
    if getattr(snakemake_rules, "get_function_params", None) is not read:
        return  # a Snakemake laid out otherwise: leave it as it is
    import inspect
    import weakref

    signatures = weakref.WeakKeyDictionary()  # function -> {bound?: parameters}

    def get_function_params(func):
        if hasattr(func, overwrite_attr):
            return getattr(func, overwrite_attr)
        bound = inspect.ismethod(func)
        function = func.__func__ if bound else func
        if not inspect.isfunction(function):  # partials, classes, callables: as before
            return read(func)
        per_binding = signatures.setdefault(function, {})
        if bound not in per_binding:
            per_binding[bound] = read(func)
        return per_binding[bound]

    get_function_params.cached = True
    snakemake_common.get_function_params = get_function_params
    snakemake_rules.get_function_params = get_function_params


_read_each_signature_once()


def _describe_jobs_only_where_shown():
    """A dry run describes every job it plans (Snakemake 9.x: Job.log_info): it evaluates
    the job's resources and formats each of its files into a log record, which the logger
    then drops under `--quiet rules` (the README's planning command): 1.3 s of CPU on the
    seqgra-paper grid. In a dry run, a job is described only when a handler of Snakemake's
    logger would show the record (asked with a probe record through each handler's level
    and filters); a real run, and a dry run that lists its jobs, describe them as before.
    """
    try:
        import logging

        from snakemake.jobs import Job
        from snakemake.logging import logger
        from snakemake_interface_logger_plugins.common import LogEvent
    except ImportError:
        return
    describe = getattr(Job, "log_info", None)
    if describe is None or getattr(describe, "only_where_shown", False):
        return

    def shown():
        try:
            if not logger.isEnabledFor(logging.INFO):
                return False
            probe = logger.makeRecord(
                logger.name,
                logging.INFO,
                __file__,
                0,
                "",
                None,
                None,
                extra={"event": LogEvent.JOB_INFO},
            )
            found = False
            holder = logger
            while holder is not None:
                for handler in holder.handlers:
                    found = True
                    if probe.levelno >= handler.level and handler.filter(probe):
                        return True
                holder = holder.parent if holder.propagate else None
            return not found  # no handler to ask: describe, as Snakemake would
        except Exception:
            return True  # a handler that cannot be asked this way: describe

    def log_info(self, *args, **kwargs):
        if self.dag.workflow.dryrun and not shown():
            return
        return describe(self, *args, **kwargs)

    log_info.only_where_shown = True
    Job.log_info = log_info


_describe_jobs_only_where_shown()


def _free_no_resources_in_dry_runs():
    """A dry run hands every ready job to its executor without selecting jobs by their
    resources (Snakemake 9.x: JobScheduler.schedule skips the selection when dry), yet as
    each job finishes the scheduler gives its resources back, which evaluates them (threads,
    the default tmpdir through eval, each rule's resources): a sixth of planning the
    seqgra-paper grid, to add to a pool nothing took from. In a dry run nothing is given
    back; a real run gives back as before. A job that is listed (a plain dry run) still
    shows its resources, evaluated where it is described (Job.log_info).
    """
    try:
        from snakemake.scheduling.job_scheduler import JobScheduler
    except ImportError:
        return
    give_back = getattr(JobScheduler, "_free_resources", None)
    if give_back is None or getattr(give_back, "not_in_dry_runs", False):
        return

    def _free_resources(self, job):
        if getattr(self, "dryrun", False):
            return
        return give_back(self, job)

    _free_resources.not_in_dry_runs = True
    JobScheduler._free_resources = _free_resources


_free_no_resources_in_dry_runs()


def _collect_garbage_less_often():
    """Planning a paper-scale grid allocates millions of objects that live until the end
    (jobs, their files and wildcards); Python's cycle collector, run every 700 allocations,
    walks them again and again: a sixth of the planning time. From here on (the grid, its
    checks and the DAG) it runs every 50,000 allocations instead: the same collections, a
    few megabytes later; and what parsing loaded is frozen out of its sight at the end of
    this file. Jobs run their scripts in processes of their own, which this does not touch.
    """
    threshold0, threshold1, threshold2 = gc.get_threshold()
    gc.set_threshold(max(threshold0, 50_000), threshold1, threshold2)


_collect_garbage_less_often()


CONFIG_SCHEMA = Path(workflow.basedir) / "schemas" / "config.schema.yaml"
# The default grid, read only when no --configfile is given: a swapped grid is exactly that
# grid (the Snakefile has no `configfile:` directive, which Snakemake would merge under it).
DEFAULT_CONFIG = Path(workflow.basedir) / "config" / "config.yaml"

# Resolve, check, fill defaults, then load and validate every grammar: all before any job
# starts, each problem as one line naming the file (or the command line), the key and what
# is wrong.
try:
    _resolved, SOURCES = resolve_config(
        workflow.config_settings.configfiles,
        workflow.config_settings.config,
        DEFAULT_CONFIG,
    )
    config.clear()
    config.update(_resolved)
    check_config(config, SOURCES, CONFIG_SCHEMA)
    validate(config, schema=str(CONFIG_SCHEMA))
    GRID = build_grid(config, SOURCES, basedir=workflow.basedir)
    DISCOVERY_CONFIG = GRID.discovery
except InputError as err:
    raise WorkflowError(f"bad input: {err}") from None


# The disk-space estimate waits for a real run (not a dry run): a grid may be planned on a
# laptop and run where the disk is big enough. Still before any job starts.
onstart:
    try:
        check_disk_space(GRID, SOURCES)
    except InputError as err:
        raise WorkflowError(f"bad input: {err}") from None


def _command_line():
    args = workflow.config_settings.config_args or []
    return " ".join(args) if isinstance(args, (list, tuple)) else str(args)


# The config page lists where the config came from, in the order the sources apply.
CONFIG_SOURCES = [f"defaults: {CONFIG_SCHEMA.relative_to(workflow.basedir)}"] + [
    f"{label}: {_command_line()}" if label == COMMAND_LINE else label
    for label in SOURCES.labels
]

RESULTS = GRID.results
# Remote inputs, path -> {url, sha256, gunzip, index} (rules/download.smk)
DOWNLOADS = config["downloads"]
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
    """A wildcard constraint matching exactly ``values``; none: one that matches nothing."""
    return "|".join(re.escape(str(v)) for v in values) or "(?!)"


wildcard_constraints:
    grammar=_alternatives(GRID.grammars),
    seed=r"\d+",
    n_train=r"\d+",
    architecture=_alternatives(GRID.architectures),
    model_seed=r"\d+",
    run=_alternatives(DISCOVERY_RUNS),


# The grid's architectures by model family: networks train and are explained on the GPU
# when there is one (rules train, attribute), gapped k-mer SVMs on CPUs (train_gkmsvm,
# attribute_gkmsvm: the same jobs, with no GPU to ask for).
NETWORKS = _alternatives(GRID.architectures_of("network"))
GKMSVMS = _alternatives(GRID.architectures_of("gkmsvm"))


def attribution_settings(family):
    """The attribution runs that explain models of one family, as the attribute rule's params."""
    return GRID.attribution.for_family(family).to_dict() if GRID.attribution else {}


# ---- paths


# Paths as wildcard patterns, not input functions: Snakemake fills them in without a Python
# call per job, which keeps paper-scale grids quick to plan.
TRAIN_SPLIT = f"{DATASETS}/{{grammar}}/seed{{seed}}/n{{n_train}}/train"


def heldout_split(split):
    return f"{DATASETS}/{{grammar}}/seed{{seed}}/heldout/{split}"


def grammar_path(wildcards):
    return GRID.grammar_paths[wildcards.grammar]


# Realistic grammars (real windows, scanned once by rule realistic_motifs) and rule
# grammars (their elements listed by the grammar_elements rule), disjoint wildcard values.
REALISTIC = [
    name
    for name, grammar in GRID.grammars.items()
    if getattr(grammar, "kind", "") == "realistic"
]
RULE_GRAMMARS = [name for name in GRID.grammars if name not in REALISTIC]


def realistic_inputs(wildcards):
    """The files a realistic grammar reads, so that their downloads run first."""
    return GRID.grammars[wildcards.grammar].input_files()


def grammar_motif_tables(grammar):
    """The scan a realistic grammar's splits are made from (its summary names the kept
    motifs); nothing for a rule grammar."""
    if grammar in REALISTIC:
        return {"motifs": f"{RESULTS}/grammars/{grammar}/motifs/motifs.json"}
    return {}


def motif_tables(wildcards):
    return grammar_motif_tables(wildcards.grammar)


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
    if r.grammar not in REALISTIC  # no oracle: real DNA has no generative model
    for split in EVAL_SPLITS
]
TRAINING_JOBS = [
    (point, f"{MODELS}/{MODEL.format(**point)}/history.tsv") for point in MODEL_POINTS
]
# The runs that explain each architecture (those of its model family), by name.
RUNS = {arch: [run.name for run in GRID.runs(arch)] for arch in GRID.architectures}
# A model that attribution runs explain is evaluated in its attribute job, before the maps
# (seconds beside them: a failed job redoes little; training stays a job of its own), so
# Snakemake plans one job per model fewer; a model that no run explains has an evaluate job.
ATTRIBUTED_NETWORKS = _alternatives(
    a for a in GRID.architectures_of("network") if RUNS[a]
)
ATTRIBUTED_GKMSVMS = _alternatives(
    a for a in GRID.architectures_of("gkmsvm") if RUNS[a]
)
EVALUATED_ALONE = _alternatives(a for a in GRID.architectures if not RUNS[a])
# The job that evaluates a model (its benchmark file's rule)
EVALUATING_RULE = {
    arch: "attribute" if RUNS[arch] else "evaluate" for arch in GRID.architectures
}


RECOVERY_JOBS = [
    ({**point, "run": run}, f"{RECOVERY}/{MODEL.format(**point)}.tsv")
    for point in MODEL_POINTS
    for run in RUNS[point["architecture"]]
]
DISCOVERY_JOBS = [
    ({**point, "run": run}, f"{DISCOVERY}/{MODEL.format(**point)}/{run}.scores.tsv")
    for point in MODEL_POINTS
    for run in DISCOVERY_RUNS
    if run in RUNS[point["architecture"]]
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
    for rule in ["train", EVALUATING_RULE[point["architecture"]]]
] + [
    (
        {"rule": "discover", **point, "run": run},
        f"{RUNTIME}/discover/{MODEL.format(**point)}/{run}.tsv",
    )
    for point in MODEL_POINTS
    for run in DISCOVERY_RUNS
    if run in RUNS[point["architecture"]]
]
# Table name -> its (keys, per-job file) pairs: the `aggregate` rule's jobs.
TABLE_JOBS = {
    "predictive": PREDICTIVE_JOBS,
    "training": TRAINING_JOBS,
    "recovery": RECOVERY_JOBS,
    "discovery": DISCOVERY_JOBS,
    "runtime": RUNTIME_JOBS,
}
# Table name -> the declared outputs that hold its per-job files: a model's evaluation
# tables and training history lie in the folders its evaluate (or attribute) and train jobs
# write (a file inside a directory() output cannot itself be an input); the oracle's,
# recovery and discovery tables are outputs of their own.
TABLE_INPUTS = {
    "predictive": [f"{EVALUATION}/{MODEL.format(**point)}" for point in MODEL_POINTS]
    + [path for keys, path in PREDICTIVE_JOBS if keys["architecture"] == "oracle"],
    "training": [f"{MODELS}/{MODEL.format(**point)}" for point in MODEL_POINTS],
    "recovery": [path for _, path in RECOVERY_JOBS],
    "discovery": [path for _, path in DISCOVERY_JOBS],
}


# Per-model report items (e.g. each model's ROC/PR curves) only while the grid is small
# enough to browse: on paper-scale grids thousands of embedded images would make the HTML
# report gigabytes, and each report flag costs the planner time per job. The grid-level
# figures summarise every model either way; the per-model files are written regardless.
MAX_MODELS_IN_REPORT = 100


def report_if_browsable(path, **report_options):
    if len(MODEL_POINTS) <= MAX_MODELS_IN_REPORT:
        return report(path, **report_options)
    return path


def evaluation_output():
    """A model's evaluation folder: <split>.metrics.tsv, <split>.predictions.tsv and
    <split>.curves.tsv per split and test.curves.png (one declared output instead of seven,
    as for train), the output of rule evaluate or of rule attribute."""
    return report_if_browsable(
        directory(f"{EVALUATION}/{MODEL}"),
        patterns=["{split}.curves.png"],
        caption="../report/model_curves.rst",
        category="2. Predictive performance",
        labels={
            "grammar": "{grammar}",
            "n_train": "{n_train}",
            "architecture": "{architecture}",
            "model seed": "{model_seed}",
        },
    )


def table_inputs(wildcards):
    """A table's per-job files; the runtime table's are the other tables (see rule
    aggregate)."""
    if wildcards.table == "runtime":
        return [f"{TABLES}/{name}.tsv" for name in STAGE_TABLES]
    return sorted(set(TABLE_INPUTS[wildcards.table]))


def _caption(path, **context):
    return render_caption(
        Path(workflow.basedir) / "report" / path, config=config, **context
    )


def table_caption(wildcards):
    return _caption(TABLE_REPORT[wildcards.table][1])


def tracks_model(run=None):
    """The model whose attribution tracks the report shows: the largest training set of
    the first grammar, seed, architecture that ``run`` explains (default: the first
    attribution run) and model seed."""
    run = GRID.attribution.runs[0].name if run is None else run
    point = next(p for p in MODEL_POINTS if run in RUNS[p["architecture"]])
    return {**point, "n_train": max(GRID.n_train[point["grammar"]])}


def figure_inputs(wildcards):
    """A figure's named inputs (grammarbench.aggregate.figures.FIGURES[...].inputs)."""
    needed = FIGURE_REGISTRY[wildcards.figure].inputs
    paths = {name: f"{TABLES}/{name}.tsv" for name in TABLE_JOBS if name in needed}
    if "splits" in needed:  # the test split of the first data seed, one per grammar
        paths["splits"] = [
            f"{DATASETS}/{grammar}/seed{GRID.seeds[0]}/heldout/test"
            for grammar in GRID.grammars
        ]
    if "attribution" in needed:
        model = tracks_model()
        paths["attribution"] = f"{ATTRIBUTIONS}/{MODEL.format(**model)}"
        paths["split"] = (
            f"{DATASETS}/{model['grammar']}/seed{model['seed']}/heldout/test"
        )
    if "patterns" in needed:  # the first discovery run, on the first model it explains
        model = tracks_model(DISCOVERY_RUNS[0])
        stem = f"{DISCOVERY}/{MODEL.format(**model)}/{DISCOVERY_RUNS[0]}"
        paths["patterns"] = f"{stem}.json"
        paths["matches"] = f"{stem}.matches.tsv"
        paths["grammar"] = GRID.grammar_paths[model["grammar"]]
        paths.update(grammar_motif_tables(model["grammar"]))
    return paths


def figure_caption(wildcards):
    name = wildcards.figure
    options = FIGURE_REGISTRY[name].options(GRID)
    model = tracks_model() if "attribution" in FIGURE_REGISTRY[name].inputs else {}
    return _caption(FIGURE_REGISTRY[name].caption, model=model, **options)


def figure_targets():
    """The report's figures: one set per grid, each PNG with a PDF beside it."""
    return [f"{FIGURES}/{name}.png" for name in applicable(GRID)]


def get_final_output():
    """Everything, through the grid's tables and figures when there are models (the
    tables need every model's files, so listing those too would only slow planning)."""
    targets = simulation_targets() + [f"{RESULTS}/config.html"]
    if not GRID.architectures:
        return targets
    targets += [f"{TABLES}/{name}.tsv" for name in STAGE_TABLES + ["runtime"]]
    return targets + figure_targets()


# Last: everything loaded so far (Snakemake, the package, the grid, its tables) lives as long
# as the run; frozen, the cycle collector no longer walks it (_collect_garbage_less_often).
gc.freeze()
