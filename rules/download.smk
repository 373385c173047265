# Remote inputs (config downloads:): each file is fetched over HTTP(S) by Snakemake's
# storage plugin, its sha256 (or md5) checked, decompressed and indexed if asked, before any job
# reads it. One rule per file, named download_<n>, so no input function runs per job.


storage:
    provider="http",


for number, (path, spec) in enumerate(DOWNLOADS.items()):

    rule:
        name:
            f"download_{number}"
        input:
            storage.http(spec["url"]),
        output:
            [path] + ([f"{path}.fai"] if spec["index"] else []),
        log:
            f"logs/download/{number}.log",
        conda:
            "../envs/simulate.yaml"
        resources:
            mem_mb=1000,
            runtime=120,
        params:
            checksum={key: spec[key] for key in ("sha256", "md5") if key in spec},
            gunzip=spec["gunzip"],
            index=spec["index"],
            url=spec["url"],
            source=SOURCES.blame("downloads"),
        script:
            "../scripts/download.py"
