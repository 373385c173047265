# Stage 3: attribute every trained model's predictions with the configured attribution runs
# (method × reference) of its model family, a network on the GPU when the job may use one,
# and score each map against the simulated ground truth in the same job. The same job first
# evaluates the model on the validation and test splits (stage 2's evaluation). One job per
# model, not per run or per stage: it keeps paper-scale grids to a DAG Snakemake builds in
# seconds. Evaluation and scoring take seconds next to the attribution, so a failed job
# redoes little that had succeeded; training, the costly step, is a job of its own.


rule attribute:
    input:
        model=f"{MODELS}/{MODEL}",
        validation=heldout_split("validation"),
        test=heldout_split("test"),
        train=TRAIN_SPLIT,
    output:
        evaluation=evaluation_output(),
        maps=directory(f"{ATTRIBUTIONS}/{MODEL}"),
        recovery=f"{RECOVERY}/{MODEL}.tsv",
    log:
        f"logs/attribute/{MODEL}.log",
    benchmark:
        f"{RUNTIME}/attribute/{MODEL}.tsv"
    wildcard_constraints:
        architecture=ATTRIBUTED_NETWORKS,
    conda:
        "../envs/torch.yaml"
    threads: config["attribution"]["threads"]
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=120,
    params:
        splits=EVAL_SPLITS,
        evaluation_device=config["train"]["device"],
        attribution=attribution_settings("network"),
        device=config["attribution"]["device"],
        metrics=GRID.attribution.metrics if GRID.attribution else {},
    script:
        "../scripts/attribute.py"


# A gapped k-mer SVM: its family's runs (GkmExplain, ISM, ...) on CPUs, asking for no GPU.
use rule attribute as attribute_gkmsvm with:
    wildcard_constraints:
        architecture=ATTRIBUTED_GKMSVMS,
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        splits=EVAL_SPLITS,
        evaluation_device=config["train"]["device"],
        attribution=attribution_settings("gkmsvm"),
        device="cpu",
        metrics=GRID.attribution.metrics if GRID.attribution else {},
