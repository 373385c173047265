# Stage 1: simulate. One training split per (grammar, seed, size): the first n examples of
# one stream, so a size sweep trains on nested sets. One validation and one test split per
# (grammar, seed), shared by every size.


rule simulate_train:
    input:
        unpack(motif_tables),
        grammar=grammar_path,
    output:
        directory(f"{DATASETS}/{{grammar}}/seed{{seed}}/n{{n_train}}/train"),
    log:
        "logs/simulate_train/{grammar}/seed{seed}/n{n_train}.log",
    conda:
        "../envs/simulate.yaml"
    threads: config["simulate"]["threads"]
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        exports=config["simulate"]["exports"],
        downloads=list(DOWNLOADS),
    script:
        "../scripts/simulate.py"


rule simulate_heldout:
    input:
        unpack(motif_tables),
        grammar=grammar_path,
    output:
        validation=directory(f"{DATASETS}/{{grammar}}/seed{{seed}}/heldout/validation"),
        test=directory(f"{DATASETS}/{{grammar}}/seed{{seed}}/heldout/test"),
    log:
        "logs/simulate_heldout/{grammar}/seed{seed}.log",
    conda:
        "../envs/simulate.yaml"
    threads: config["simulate"]["threads"]
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        exports=config["simulate"]["exports"],
        sizes=heldout_sizes,
        downloads=list(DOWNLOADS),
    script:
        "../scripts/simulate.py"


rule grammar_elements:
    input:
        grammar=grammar_path,
    output:
        elements=f"{RESULTS}/grammars/{{grammar}}/elements.tsv",
        similarity=f"{RESULTS}/grammars/{{grammar}}/similarity.tsv",
        meme=f"{RESULTS}/grammars/{{grammar}}/elements.meme",
    log:
        "logs/grammar_elements/{grammar}.log",
    wildcard_constraints:
        grammar=_alternatives(RULE_GRAMMARS),
    conda:
        "../envs/simulate.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/grammar_elements.py"


# A realistic grammar's real windows are scanned once for every motif and the motifs
# filtered; every split of every seed and size is made from these tables.
rule realistic_motifs:
    input:
        grammar=grammar_path,
        files=realistic_inputs,
    output:
        hits=report(
            f"{RESULTS}/grammars/{{grammar}}/motifs/hits.tsv",
            caption="../report/realistic_hits.rst",
            category="1. Simulated data",
            labels={"grammar": "{grammar}", "table": "motif hits"},
        ),
        filter=report(
            f"{RESULTS}/grammars/{{grammar}}/motifs/filter.tsv",
            caption="../report/realistic_filter.rst",
            category="1. Simulated data",
            labels={"grammar": "{grammar}", "table": "motif filter"},
        ),
        summary=f"{RESULTS}/grammars/{{grammar}}/motifs/motifs.json",
        windows=f"{RESULTS}/grammars/{{grammar}}/motifs/windows.npz",
        elements=f"{RESULTS}/grammars/{{grammar}}/elements.tsv",
        similarity=f"{RESULTS}/grammars/{{grammar}}/similarity.tsv",
        meme=f"{RESULTS}/grammars/{{grammar}}/elements.meme",
    log:
        "logs/realistic_motifs/{grammar}.log",
    wildcard_constraints:
        grammar=_alternatives(REALISTIC),
    conda:
        "../envs/simulate.yaml"
    threads: config["simulate"]["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        downloads=list(DOWNLOADS),
    script:
        "../scripts/realistic_motifs.py"


rule plot_grammar_heatmap:
    input:
        TRAIN_SPLIT,
    output:
        report(
            f"{RESULTS}/diagnostics/{{grammar}}/seed{{seed}}/n{{n_train}}.positional.png",
            caption="../report/positional_heatmap.rst",
            category="1. Simulated data",
            labels={
                "grammar": "{grammar}",
                "seed": "{seed}",
                "n_train": "{n_train}",
            },
        ),
    log:
        "logs/plot_grammar_heatmap/{grammar}/seed{seed}/n{n_train}.log",
    conda:
        "../envs/plot.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/plot_grammar_heatmap.py"
