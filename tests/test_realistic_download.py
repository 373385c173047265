"""Remote inputs of a realistic grammar (config downloads:), fetched by Snakemake's HTTP
storage plugin from a local HTTP server on 127.0.0.1 that serves fixture files: the plan,
the download with its checksum, decompression and FASTA index, and a wrong checksum."""

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

from grammarbench.grammars.motifs import write_meme

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
MOTIF = "TGACTCATGCA"
pytestmark = pytest.mark.slow  # every test runs snakemake


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Fixture files (a gzipped genome with a motif at each positive summit, two peak
    files) served over HTTP on 127.0.0.1, on a free port."""
    folder = tmp_path_factory.mktemp("served")
    rng = np.random.default_rng(4)
    genome = rng.integers(0, 4, size=40_000)
    summits = np.arange(500, 39_500, 500)
    for summit in summits[::2]:
        genome[summit - 5: summit + 6] = ["ACGT".index(c) for c in MOTIF]
    text = "".join("ACGT"[c] for c in genome)
    fasta = ">chrT\n" + "\n".join(text[i: i + 70] for i in range(0, len(text), 70)) + "\n"
    (folder / "genome.fa.gz").write_bytes(gzip.compress(fasta.encode()))
    (folder / "positives.bed").write_text("".join(f"chrT\t{s - 60}\t{s + 60}\n" for s in summits[::2]))
    (folder / "background.bed").write_text("".join(f"chrT\t{s - 60}\t{s + 60}\n" for s in summits[1::2]))
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # the plugin's many HEAD requests would flood the output
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def workdir_with_config(tmp_path: Path, server, wrong_checksum: bool = False) -> Path:
    folder, url = server
    ppm = np.full((len(MOTIF), 4), 0.02)
    ppm[np.arange(len(MOTIF)), ["ACGT".index(c) for c in MOTIF]] = 0.94
    write_meme(tmp_path / "motifs.meme", {"planted": ppm, "absent": ppm[::-1, ::-1].copy()[::-1]})
    grammar = {"kind": "realistic", "name": "remote", "width": 100,
               "positives": {"genome": "resources/genome.fa", "peaks": "resources/positives.bed"},
               "background": {"peaks": "resources/background.bed"},
               "motifs": {"meme": "motifs.meme"}, "filter": {"min_hits": 20, "min_enrichment": 1.25}}
    (tmp_path / "remote.yaml").write_text(yaml.safe_dump(grammar))
    downloads = {
        "resources/genome.fa": {"url": f"{url}/genome.fa.gz", "sha256": sha256(folder / "genome.fa.gz"),
                                "gunzip": True, "index": True},
        # md5, as the ENCODE portal lists its files' checksums
        "resources/positives.bed": {"url": f"{url}/positives.bed",
                                    "md5": hashlib.md5((folder / "positives.bed").read_bytes()).hexdigest()},
        "resources/background.bed": {"url": f"{url}/background.bed",
                                     "sha256": "f" * 64 if wrong_checksum else sha256(folder / "background.bed")},
    }
    config = {"grammars": {"remote": "remote.yaml"}, "downloads": downloads, "n_train": [40],
              "n_validation": 10, "n_test": 10, "seeds": [1], "simulate": {"threads": 1, "exports": []}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    command = [SNAKEMAKE, *args, "--cores", "1", "-s", str(REPO / "Snakefile"), "--directory",
               str(workdir), "--configfile", str(workdir / "config.yaml")]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def test_plan_fetches_the_remote_inputs_first(tmp_path, server):
    workdir = workdir_with_config(tmp_path, server)
    result = snakemake(workdir, "-n")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    plan = result.stdout + result.stderr
    for rule in ("download_0", "download_1", "download_2", "realistic_motifs", "simulate_train"):
        assert rule in plan, rule
    assert server[1] in plan  # the remote inputs point at the local server
    assert not (workdir / "resources").exists()


def test_download_rule_fetches_checks_and_indexes(tmp_path, server):
    workdir = workdir_with_config(tmp_path, server)
    targets = ["resources/genome.fa", "resources/genome.fa.fai", "resources/positives.bed",
               "resources/background.bed", "results/grammars/remote/motifs/filter.tsv"]
    result = snakemake(workdir, *targets)
    assert result.returncode == 0, result.stderr[-3000:]
    folder = server[0]
    assert (workdir / "resources/genome.fa").read_bytes() == gzip.decompress((folder / "genome.fa.gz").read_bytes())
    assert (workdir / "resources/genome.fa.fai").read_text().startswith("chrT\t40000\t")
    assert (workdir / "resources/positives.bed").read_text() == (folder / "positives.bed").read_text()
    table = (workdir / "results/grammars/remote/motifs/filter.tsv").read_text().splitlines()
    assert table[1].startswith("planted\t") and table[1].split("\t")[6] == "True"


def test_wrong_checksum_fails_the_download_naming_it(tmp_path, server):
    workdir = workdir_with_config(tmp_path, server, wrong_checksum=True)
    result = snakemake(workdir, "resources/background.bed")
    assert result.returncode != 0
    log = "".join(p.read_text() for p in (workdir / "logs/download").glob("*.log"))
    assert "downloads.resources/background.bed.sha256" in log and "not " + "f" * 64 in log
    assert not (workdir / "resources/background.bed").exists()


def test_bad_realistic_grammar_stops_before_any_job(tmp_path, server):
    workdir = workdir_with_config(tmp_path, server)
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    del config["downloads"]["resources/genome.fa"]  # nothing will fetch the genome now
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "-n")
    assert result.returncode != 0
    output = result.stdout + result.stderr  # a dry run reports on stdout
    message = [line for line in output.splitlines() if line.startswith("bad input: ")]
    assert len(message) == 1, output[-2000:]
    assert "remote.yaml: positives.genome: genome FASTA resources/genome.fa does not exist" in message[0]
    assert not (workdir / "results").exists() and not (workdir / "resources").exists()
