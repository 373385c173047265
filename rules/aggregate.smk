# Stage 4: one tidy table per stage across the whole grid, and the report's figures.
# A missing grid point fails its table's rule with the point's name (no silent gaps).


# The runtime table depends on the other tables instead of on each benchmark file:
# Snakemake writes a job's benchmark file when the job ends, so once the other tables exist
# every benchmark file does too, and the planner is spared one edge per job (tens of
# thousands on paper-scale grids). A file still missing fails the table with its grid point.
rule aggregate:
    input:
        table_inputs,
    output:
        report(
            f"{TABLES}/{{table}}.tsv",
            caption="../report/item.rst",
            category=lambda wildcards: TABLE_REPORT[wildcards.table][0],
            labels={"table": "{table}"},
        ),
    log:
        "logs/aggregate/{table}.log",
    wildcard_constraints:
        table="|".join(TABLE_JOBS),
    conda:
        "../envs/plot.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        jobs=lambda wildcards: TABLE_JOBS[wildcards.table],
        caption=table_caption,
    script:
        "../scripts/aggregate.py"


# Every figure of the report, from grammarbench.aggregate.figures.FIGURES: its named
# inputs, options and caption, each under its stage's section beside that stage's table.
rule figure:
    input:
        unpack(figure_inputs),
    output:
        png=report(
            f"{FIGURES}/{{figure}}.png",
            caption="../report/item.rst",
            category=lambda wildcards: FIGURE_REGISTRY[wildcards.figure].category,
        ),
        pdf=f"{FIGURES}/{{figure}}.pdf",
    log:
        "logs/figure/{figure}.log",
    wildcard_constraints:
        figure="|".join(FIGURE_REGISTRY),
    conda:
        "../envs/plot.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        options=lambda wildcards: FIGURE_REGISTRY[wildcards.figure].options(GRID),
        caption=figure_caption,
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
