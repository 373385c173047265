"""config/realistic-encode.yaml, the paper's five ENCODE DNase experiments on GRCh38: as
shipped it refuses to start until the URLs and checksums that could not be known offline are
filled in (one line naming the key); with its remote inputs pointed at a local HTTP server
that serves fixture files (a small genome, five narrowPeak files) it plans the five cell
types through every stage, downloads first, and the report's figures across them."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml

from jobstats import job_counts

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
CONFIG = REPO / "config/realistic-encode.yaml"
CELLS = ["A549", "HepG2", "K562", "GM12878", "H1"]
GENOME = "resources/encode/GRCh38_no_alt_analysis_set_GCA_000001405.15.fasta"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A gzipped two-chromosome genome and one gzipped narrowPeak file per cell type,
    served over HTTP on 127.0.0.1; their md5s."""
    folder = tmp_path_factory.mktemp("encode")
    rng = np.random.default_rng(12)
    records = {c: "".join("ACGT"[i] for i in rng.integers(0, 4, 30_000)) for c in ("chr1", "chr2")}
    fasta = "".join(f">{c}\n" + "\n".join(s[i: i + 60] for i in range(0, len(s), 60)) + "\n"
                    for c, s in records.items())
    files = {"genome.fa.gz": gzip.compress(fasta.encode())}
    for k, cell in enumerate(CELLS):
        lines = [f"{chrom}\t{s}\t{s + 300}\t.\t0\t.\t1\t-1\t-1\t150\n"
                 for chrom in ("chr1", "chr2") for s in range(1_000 + 200 * k, 28_000, 2_000)]
        files[f"{cell}.bed.gz"] = gzip.compress("".join(lines).encode())
    for name, data in files.items():
        (folder / name).write_bytes(data)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield url, {name: hashlib.md5(data).hexdigest() for name, data in files.items()}
    httpd.shutdown()


def snakemake(workdir: Path, *configfiles: Path) -> subprocess.CompletedProcess:
    command = [SNAKEMAKE, "-n", "--cores", "1", "-s", str(REPO / "Snakefile"), "--directory",
               str(workdir), "--configfile", *map(str, configfiles)]
    return subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=REPO)


def test_shipped_config_refuses_until_its_checksums_are_filled_in(tmp_path):
    result = snakemake(tmp_path, CONFIG)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    message = [line for line in output.splitlines() if line.startswith("bad input: ")]
    assert len(message) == 1, output[-2000:]
    assert f"realistic-encode.yaml: downloads.{GENOME}.md5: not filled in" in message[0]
    assert not (tmp_path / "resources").exists()


def test_plan_with_remote_inputs_on_a_local_server(tmp_path, server):
    url, md5 = server
    downloads = {GENOME: {"url": f"{url}/genome.fa.gz", "md5": md5["genome.fa.gz"]}}
    downloads |= {f"resources/encode/{cell}.peaks.bed": {"url": f"{url}/{cell}.bed.gz",
                                                          "md5": md5[f"{cell}.bed.gz"]}
                  for cell in CELLS}
    override = tmp_path / "local-server.yaml"  # merged over the real config, key by key
    override.write_text(yaml.safe_dump({"downloads": downloads}))
    result = snakemake(tmp_path, CONFIG, override)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    counts = job_counts(result)
    assert sum(v for k, v in counts.items() if k.startswith("download_")) == 6, counts
    assert counts["realistic_motifs"] == 5, counts  # the five cell types
    config = yaml.safe_load(CONFIG.read_text())
    assert set(config["grammars"]) == set(CELLS)
    assert counts["train"] == 5 * len(config["n_train"]) * len(config["architectures"]) * len(config["model_seeds"])
    for cell in CELLS:
        assert f"results/realistic-encode/grammars/{cell}/motifs/filter.tsv" in output, cell
    for figure in ("methods_by_grammar", "reference_sweep", "methods_heatmap", "recovery"):
        assert f"results/realistic-encode/figures/{figure}.png" in output, figure
    assert url in output  # the remote inputs point at the local server
    assert not (tmp_path / "resources").exists()
