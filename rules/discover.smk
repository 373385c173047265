# Stage 3b: motif discovery. TF-MoDISco on the attribute stage's stored maps of the runs
# named in `discovery.runs`, Tomtom of each pattern against the grammar's elements plus the
# JASPAR decoys, and the scores. One job per (model, run): TF-MoDISco is the slow step,
# and the subset of runs is small.


rule discovery_decoys:
    output:
        f"{DISCOVERY}/decoys.meme",
    log:
        "logs/discovery_decoys.log",
    conda:
        "../envs/discovery.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        collection=DISCOVERY_CONFIG["decoys"],
    script:
        "../scripts/discovery_decoys.py"


rule discover:
    input:
        unpack(motif_tables),  # a realistic grammar's elements: the motifs its filter kept
        attributions=f"{ATTRIBUTIONS}/{MODEL}",
        test=heldout_split("test"),
        grammar=grammar_path,
        decoys=f"{DISCOVERY}/decoys.meme",
    output:
        discovery=f"{DISCOVERY}/{MODEL}/{{run}}.json",
        matches=f"{DISCOVERY}/{MODEL}/{{run}}.matches.tsv",
        scores=f"{DISCOVERY}/{MODEL}/{{run}}.scores.tsv",
    log:
        f"logs/discover/{MODEL}/{{run}}.log",
    benchmark:
        f"{RUNTIME}/discover/{MODEL}/{{run}}.tsv"
    conda:
        "../envs/discovery.yaml"
    threads: DISCOVERY_CONFIG["threads"]
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        prefix=lambda wildcards, output: output.discovery[: -len(".json")],
        n_examples=DISCOVERY_CONFIG["n_examples"],
        alpha=DISCOVERY_CONFIG["alpha"],
        modisco=DISCOVERY_CONFIG["modisco"],
        downloads=list(DOWNLOADS),
    script:
        "../scripts/discover.py"
