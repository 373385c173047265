#!/usr/bin/env bash
# Set up .venv with the pinned packages and grammarbench itself (editable).
# torch==2.13.0 is pinned on its own first: on this kind of machine that exact pin takes the
# CPU build that lies on disk, where any other torch spec would pull several GB of CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e '.[test]'
# `snakemake --profile slurm` by name: a link in the user's Snakemake config folder.
bash profiles/install.sh .venv/bin/python
