# Stage 3: attribute every trained model's predictions with every configured attribution run (method ×
# reference), on the GPU when the job may use one, then score each map against the
# simulated ground truth. One job per model, not per run: it keeps paper-scale grids to a
# DAG Snakemake builds in seconds.


rule attribute:
    input:
        model=f"{MODELS}/{MODEL}/model.pt",
        architecture=f"{MODELS}/{MODEL}/architecture.yaml",
        test=heldout_split("test"),
        train=TRAIN_SPLIT,
    output:
        directory(f"{ATTRIBUTIONS}/{MODEL}"),
    log:
        f"logs/attribute/{MODEL}.log",
    benchmark:
        f"{RUNTIME}/attribute/{MODEL}.tsv"
    conda:
        "../envs/torch.yaml"
    threads: config["train"]["threads"]
    resources:
        gpu=1,
        mem_mb=4000,
        runtime=120,
    params:
        attribution=GRID.attribution,
        device=config["train"]["device"],
    script:
        "../scripts/attribute.py"


rule score:
    input:
        attributions=f"{ATTRIBUTIONS}/{MODEL}",
        test=heldout_split("test"),
    output:
        f"{RECOVERY}/{MODEL}.tsv",
    log:
        f"logs/score/{MODEL}.log",
    benchmark:
        f"{RUNTIME}/score/{MODEL}.tsv"
    conda:
        "../envs/torch.yaml"
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        runs=(
            [run["name"] for run in GRID.attribution["runs"]]
            if GRID.attribution
            else []
        ),
        metrics=GRID.attribution["metrics"] if GRID.attribution else {},
    script:
        "../scripts/score.py"
