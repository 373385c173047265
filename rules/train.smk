# Stage 2: train every architecture at every grid point (a network on the GPU when the job
# may use one, a gapped k-mer SVM on CPUs), evaluate it on the validation and test splits
# (here, or in its attribute job when attribution runs explain it), and score the grammar's
# own classifier (the oracle) on the same splits: the ceiling beside every model.


rule train:
    input:
        architecture=architecture_path,
        train=TRAIN_SPLIT,
        validation=heldout_split("validation"),
    output:
        # one folder: model.pt, architecture.yaml, history.tsv, summary.json (always written
        # together; one declared output instead of four keeps paper-scale grids quick to plan)
        model=directory(f"{MODELS}/{MODEL}"),
    log:
        f"logs/train/{MODEL}.log",
    benchmark:
        f"{RUNTIME}/train/{MODEL}.tsv"
    wildcard_constraints:
        architecture=NETWORKS,
    conda:
        "../envs/torch.yaml"
    threads: config["train"]["threads"]
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=120,
    params:
        overrides=TRAIN_OVERRIDES,
        device=config["train"]["device"],
        mixed_precision=config["train"]["mixed_precision"],
    script:
        "../scripts/train.py"


# A gapped k-mer SVM: the same job on CPUs (numba kernels, libsvm), asking for no GPU. Its
# kernel tier holds two N x N float64 matrices while it trains (3.2 GB each at 20,000).
use rule train as train_gkmsvm with:
    wildcard_constraints:
        architecture=GKMSVMS,
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        overrides=TRAIN_OVERRIDES,
        device="cpu",
        mixed_precision=False,


# A model that no attribution run explains (the others are evaluated by their attribute
# job, rules/attribute.smk).
rule evaluate:
    input:
        model=f"{MODELS}/{MODEL}",
        validation=heldout_split("validation"),
        test=heldout_split("test"),
    output:
        evaluation=evaluation_output(),
    log:
        f"logs/evaluate/{MODEL}.log",
    benchmark:
        f"{RUNTIME}/evaluate/{MODEL}.tsv"
    wildcard_constraints:
        architecture=EVALUATED_ALONE,
    conda:
        "../envs/torch.yaml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        splits=EVAL_SPLITS,
        device=config["train"]["device"],
    script:
        "../scripts/evaluate.py"


rule oracle:
    input:
        grammar=grammar_path,
        validation=heldout_split("validation"),
        test=heldout_split("test"),
    output:
        metrics=per_split(f"{ORACLE}/{{grammar}}/seed{{seed}}", "metrics"),
        predictions=per_split(f"{ORACLE}/{{grammar}}/seed{{seed}}", "predictions"),
        curves=per_split(f"{ORACLE}/{{grammar}}/seed{{seed}}", "curves"),
        notes=f"{ORACLE}/{{grammar}}/seed{{seed}}/oracle.json",
    log:
        "logs/oracle/{grammar}/seed{seed}.log",
    benchmark:
        f"{RUNTIME}/oracle/{{grammar}}/seed{{seed}}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        splits=EVAL_SPLITS,
    script:
        "../scripts/oracle.py"
