"""A results folder belongs to one running workflow, and its summary to one config.

Snakemake locks its working directory (`.snakemake/locks`), not the folders a config names: two
workflows started in different folders whose configs name the same `output.results` both ran, and the
summary held whichever wrote last. `hold` takes an exclusive `flock` on `<results>/.lock` for the life of
the process (the kernel releases it when the process ends, killed or not, so no stale lock is left to
`--unlock`), and refuses a folder another workflow holds, naming it.

The summary steps read the summary folder, and the figure steps write beside what is there: a table or
figure that a former config made and this one does not (noise_draws.csv after the label-noise dataset left
the config, importance_* tables after the staged method left) was read as current (claims.md reported a claim
on a dataset no longer in the config) or shown beside current ones. `move_stale` moves every such file to
`<results>/stale/<time>/`, with a message, before any job runs: nothing is deleted.

Both run from the workflow's `onstart` (common.smk), which Snakemake calls only in the main process of a
real run: not in a dry run, and not in the jobs that re-read the Snakefile on a cluster.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path

LOCK_FILE = ".lock"
STALE = "stale"
_HELD: dict[str, int] = {}  # lock path -> open descriptor, kept open until the process ends


class FolderBusy(RuntimeError):
    """Another running workflow holds the results folder; the message names it and the fix."""


def hold(results: str | os.PathLike) -> Path:
    """Lock `results` for this process (idempotent); FolderBusy when another process holds it."""
    import fcntl

    folder = Path(results)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    key = str(path.resolve())
    if key in _HELD:
        return path
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(path)
        os.close(fd)
        raise FolderBusy(
            f"output.results {folder} is in use by another workflow ({holder}; its lock: {path}): two workflows "
            "writing one results folder overwrite each other's summary. Fix: wait until that workflow ends, or give "
            "this config another output.results.") from None
    except OSError as e:  # a file system without locks (some network mounts): say so, do not stop the run
        os.close(fd)
        if e.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
            print(f"warning: cannot lock {path} ({e.strerror}): nothing stops a second workflow from writing "
                  f"{folder} at the same time; run one at a time.", file=sys.stderr)
            return path
        raise
    record = {"pid": os.getpid(), "host": socket.gethostname(), "workdir": os.getcwd(),
              "command": " ".join(sys.argv), "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
    _HELD[key] = fd
    return path


def _holder(path: Path) -> str:
    try:
        r = json.loads(path.read_text())
        return f"pid {r['pid']} on {r['host']}, started {r['since']} in {r['workdir']}: {r['command']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not yet said which"


def release(results: str | os.PathLike) -> None:
    """Give up the lock early (tests; the process's end releases it anyway)."""
    fd = _HELD.pop(str((Path(results) / LOCK_FILE).resolve()), None)
    if fd is not None:
        os.close(fd)


def stale_files(results: str | os.PathLike, figures: str | os.PathLike, current) -> list[Path]:
    """Files in the summary and figure folders that are not among `current` (the config's outputs).

    Hidden files (a writer's temporary `.name.tmp-PID`) and the stale folder itself are left alone.
    """
    keep = {Path(os.path.abspath(f)) for f in current}
    stale_root = Path(os.path.abspath(results)) / STALE
    found = []
    for folder in (Path(results) / "summary", Path(figures)):
        folder = Path(os.path.abspath(folder))
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if (path.is_file() and not path.name.startswith(".") and path not in keep
                    and stale_root not in path.parents and path not in found):
                found.append(path)
    return found


def move_stale(results: str | os.PathLike, figures: str | os.PathLike, current, stamp: str | None = None) -> list[Path]:
    """Move the stale files (`stale_files`) to <results>/stale/<time>/, keeping their paths; return where they went."""
    files = stale_files(results, figures, current)
    if not files:
        return []
    stamp = stamp or datetime.now().strftime("%Y%m%d-%H%M%S")
    root = Path(os.path.abspath(results))
    target = root / STALE / stamp
    moved = []
    for path in files:
        rel = path.relative_to(root) if root in path.parents else Path("figures") / path.relative_to(
            Path(os.path.abspath(figures)))
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), str(dest))
        moved.append(dest)
    names = ", ".join(str(p.relative_to(target)) for p in moved[:5]) + (" ..." if len(moved) > 5 else "")
    print(f"Moved {len(moved)} file(s) that this config does not produce out of the summary and figure folders "
          f"into {target} ({names}): a former config made them, and no step of this one reads or shows them.",
          file=sys.stderr)
    return moved


def workflow_outputs(rules) -> list[str]:
    """Every output without wildcards of the workflow's rules: the summary tables and figures this config makes."""
    return [str(f) for rule in rules for f in rule.output if "{" not in str(f)]
