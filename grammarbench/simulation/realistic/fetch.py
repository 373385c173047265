# fetch.py
# grammarbench: install a file that Snakemake downloaded (checksum, gunzip, FASTA index)

"""The last step of a remote input (config ``downloads:``): Snakemake's HTTP storage plugin
fetches the file; this checks its sha256 or md5, decompresses it if asked and indexes a FASTA,
so that realistic grammars read it like any local file."""

from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

from grammarbench.errors import InputError
from grammarbench.io import atomic_path

__all__ = ["checksum", "install_download"]

_BLOCK = 1 << 20


def checksum(path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def install_download(downloaded, target, expected: dict[str, str], gunzip: bool = False,
                     index: bool = False, source: str = "config", url: str = "") -> Path:
    """Check ``downloaded`` against ``expected`` ({"sha256": hex} or {"md5": hex}) and
    write it (decompressed when ``gunzip``) to ``target``, atomically; with ``index`` also
    write ``target``.fai (pyfaidx).

    Raises
    ------
    InputError
        The checksum differs (naming the config key, the URL and both checksums).
    """
    import pyfaidx

    target = Path(target)
    (algorithm, wanted), = expected.items()
    found = checksum(downloaded, algorithm)
    if found != wanted.lower():
        raise InputError(source, f"downloads.{target}.{algorithm}",
                         f"{url or downloaded} has {algorithm} {found}, not {wanted}")
    with atomic_path(target) as partial:
        opener = gzip.open if gunzip else open
        with opener(downloaded, "rb") as read, open(partial, "wb") as write:
            shutil.copyfileobj(read, write, _BLOCK)
    if index:
        # pyfaidx writes <target>.fai; build it under a temporary name first
        with atomic_path(f"{target}.fai") as partial:
            partial.unlink()  # pyfaidx would read the empty placeholder as a finished index
            pyfaidx.Faidx(str(target), indexname=str(partial)).close()
    return target
