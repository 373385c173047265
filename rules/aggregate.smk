# Stage 4: one tidy table per stage across the whole grid, and the report's figures.
# A missing grid point fails its table's rule with the point's name (no silent gaps).


rule aggregate_predictive:
    input:
        table_inputs(PREDICTIVE_JOBS),
    output:
        report(
            f"{TABLES}/predictive.tsv",
            caption="../report/predictive_table.rst",
            category="2. Predictive performance",
            labels={"table": "predictive"},
        ),
    log:
        "logs/aggregate/predictive.log",
    conda:
        "../envs/plot.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        kind="predictive",
        jobs=PREDICTIVE_JOBS,
    script:
        "../scripts/aggregate.py"


rule aggregate_training:
    input:
        table_inputs(TRAINING_JOBS),
    output:
        report(
            f"{TABLES}/training.tsv",
            caption="../report/training_table.rst",
            category="2. Predictive performance",
            labels={"table": "training"},
        ),
    log:
        "logs/aggregate/training.log",
    conda:
        "../envs/plot.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        kind="training",
        jobs=TRAINING_JOBS,
    script:
        "../scripts/aggregate.py"


rule aggregate_recovery:
    input:
        table_inputs(RECOVERY_JOBS),
    output:
        report(
            f"{TABLES}/recovery.tsv",
            caption="../report/recovery_table.rst",
            category="3. Grammar recovery",
            labels={"table": "recovery"},
        ),
    log:
        "logs/aggregate/recovery.log",
    conda:
        "../envs/plot.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        kind="recovery",
        jobs=RECOVERY_JOBS,
    script:
        "../scripts/aggregate.py"


rule aggregate_discovery:
    input:
        table_inputs(DISCOVERY_JOBS),
    output:
        report(
            f"{TABLES}/discovery.tsv",
            caption="../report/discovery_table.rst",
            category="5. Motif discovery",
            labels={"table": "discovery"},
        ),
    log:
        "logs/aggregate/discovery.log",
    conda:
        "../envs/plot.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        kind="discovery",
        jobs=DISCOVERY_JOBS,
    script:
        "../scripts/aggregate.py"


# Snakemake writes a job's benchmark file when the job ends, so once the other tables exist
# every benchmark file does too: depending on the tables instead of on each file spares the
# planner one edge per job (tens of thousands on paper-scale grids). A file still missing
# fails the table with its grid point, as for the other tables.
rule aggregate_runtime:
    input:
        [f"{TABLES}/{name}.tsv" for name in STAGE_TABLES],
    output:
        report(
            f"{TABLES}/runtime.tsv",
            caption="../report/runtime_table.rst",
            category="4. Runtime",
            labels={"table": "runtime"},
        ),
    log:
        "logs/aggregate/runtime.log",
    conda:
        "../envs/plot.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        kind="runtime",
        jobs=RUNTIME_JOBS,
    script:
        "../scripts/aggregate.py"


# One rule per figure: (figure name, inputs, report category).
FIGURE_RULES = {
    "predictive": (
        "predictive",
        {"predictive": f"{TABLES}/predictive.tsv"},
        "2. Predictive performance",
    ),
    "learning_curves": (
        "learning_curves",
        {"training": f"{TABLES}/training.tsv"},
        "2. Predictive performance",
    ),
    "runtime": ("runtime", {"runtime": f"{TABLES}/runtime.tsv"}, "4. Runtime"),
    "recovery": (
        "recovery",
        {"recovery": f"{TABLES}/recovery.tsv"},
        "3. Grammar recovery",
    ),
    "methods_heatmap": (
        "methods",
        {"recovery": f"{TABLES}/recovery.tsv"},
        "3. Grammar recovery",
    ),
    "reference_sweep": (
        "references",
        {"recovery": f"{TABLES}/recovery.tsv"},
        "3. Grammar recovery",
    ),
    "discovery": (
        "discovery",
        {"discovery": f"{TABLES}/discovery.tsv"},
        "5. Motif discovery",
    ),
}


rule figure_from_table:
    input:
        lambda wildcards: list(FIGURE_RULES[wildcards.figure][1].values()),
    output:
        png=report(
            f"{FIGURES}/{{figure}}.png",
            caption="../report/figure_from_table.rst",
            # each figure under its stage, beside that stage's table
            category=lambda wildcards: FIGURE_RULES[wildcards.figure][2],
        ),
        pdf=f"{FIGURES}/{{figure}}.pdf",
    log:
        "logs/figure/{figure}.log",
    wildcard_constraints:
        figure="|".join(FIGURE_RULES),
    conda:
        "../envs/plot.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        name=lambda wildcards: FIGURE_RULES[wildcards.figure][0],
        options={},
    script:
        "../scripts/figure.py"


rule figure_positional_heatmaps:
    input:
        splits=[
            f"{DATASETS}/{grammar}/seed{GRID.seeds[0]}/heldout/test"
            for grammar in GRID.grammars
        ],
    output:
        png=report(
            f"{FIGURES}/positional_heatmaps.png",
            caption="../report/positional_heatmaps.rst",
            category="1. Simulated data",
        ),
        pdf=f"{FIGURES}/positional_heatmaps.pdf",
    log:
        "logs/figure/positional_heatmaps.log",
    conda:
        "../envs/plot.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        name="positional",
        options={"names": list(GRID.grammars)},
    script:
        "../scripts/figure.py"


rule figure_attribution_tracks:
    input:
        attribution=lambda wildcards: f"{ATTRIBUTIONS}/{MODEL.format(**tracks_model())}",
        split=lambda wildcards: f"{DATASETS}/{tracks_model()['grammar']}/seed{tracks_model()['seed']}/heldout/test",
    output:
        png=report(
            f"{FIGURES}/attribution_tracks.png",
            caption="../report/attribution_tracks.rst",
            category="3. Grammar recovery",
        ),
        pdf=f"{FIGURES}/attribution_tracks.pdf",
    log:
        "logs/figure/attribution_tracks.log",
    conda:
        "../envs/plot.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        name="tracks",
        options={},
        run=lambda wildcards: (
            GRID.attribution["runs"][0]["name"] if GRID.attribution else ""
        ),
    script:
        "../scripts/figure.py"


rule figure_discovery_logos:
    input:
        discovery=lambda wildcards: f"{DISCOVERY}/{MODEL.format(**tracks_model())}/{DISCOVERY_RUNS[0]}.json",
        matches=lambda wildcards: f"{DISCOVERY}/{MODEL.format(**tracks_model())}/{DISCOVERY_RUNS[0]}.matches.tsv",
        grammar=lambda wildcards: GRID.grammar_paths[tracks_model()["grammar"]],
    output:
        png=report(
            f"{FIGURES}/discovery_logos.png",
            caption="../report/discovery_logos.rst",
            category="5. Motif discovery",
        ),
        pdf=f"{FIGURES}/discovery_logos.pdf",
    log:
        "logs/figure/discovery_logos.log",
    conda:
        "../envs/discovery.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        name="discovery_logos",
        options={},
    script:
        "../scripts/figure.py"


rule run_config:
    input:
        list(GRID.grammar_paths.values()) + list(GRID.architecture_paths.values()),
    output:
        report(
            f"{RESULTS}/config.html",
            caption="../report/run_config.rst",
            category="0. Run configuration",
        ),
    log:
        "logs/run_config.log",
    conda:
        "../envs/plot.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        config=config,
        sources=CONFIG_SOURCES,
        grammars=GRID.grammar_paths,
        architectures=GRID.architecture_paths,
    script:
        "../scripts/run_config.py"
