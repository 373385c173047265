#!/usr/bin/env bash
# Make `snakemake --profile slurm` find this repository's profiles/slurm by name.
#
# Snakemake 9 resolves `--profile NAME` (snakemake/cli.py, get_profile_dir) by looking for a
# folder NAME in the current directory, then in the user's Snakemake config folder
# (platformdirs: $XDG_CONFIG_HOME/snakemake, by default ~/.config/snakemake), then in the site
# config folder (/etc/xdg/snakemake). This script puts a link NAME -> profiles/NAME in the
# user's folder. An existing link is replaced (the last clone set up wins, and says so); an
# existing folder or file of that name, a profile of the user's own, is left alone.
#
#     bash profiles/install.sh [python]       # python: one that has snakemake (default .venv)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
python="${1:-$repo/.venv/bin/python}"
config_dir="$("$python" -c 'from snakemake.common import get_appdirs; print(get_appdirs().user_config_dir)')"
mkdir -p "$config_dir"
for name in slurm; do
    link="$config_dir/$name"
    target="$repo/profiles/$name"
    if [ -L "$link" ]; then
        old="$(readlink "$link")"
        [ "$old" = "$target" ] || echo "profiles/install.sh: $link pointed to $old; now to $target"
        ln -sfn "$target" "$link"
    elif [ -e "$link" ]; then
        echo "profiles/install.sh: $link exists and is not a link; left alone." \
            "Use --profile $target (or profiles/$name from the repository root)." >&2
        continue
    else
        ln -s "$target" "$link"
    fi
    echo "snakemake --profile $name -> $target"
done
