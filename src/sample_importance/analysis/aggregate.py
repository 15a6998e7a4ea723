"""Tidy summary tables over the runs of one config.

Coordinates come from each run's run.json (never parsed from paths). Every
table carries the git commit and config hash of the runs it summarises. No table
is used before it is checked against the run.json that recorded it
(`checked_runs`): a cut or edited table stops the aggregation, naming the run.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import re
import shlex
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import read_csv, write_csv
from ..outputs import RUN_IMPORTANCE_FILES, RUN_TABLES, SUMMARY_TABLES
from ..provenance import SEAL, seal_problem
from . import speedup as speedup_mod
from .budget_table import budget_table, comparison_table, write_markdown as write_budget_markdown
from .longtail import SHOT_COLUMNS, longtail_accuracies
from .speedup import STAGED_JOBS, add_costs, run_jobs, scoring_cost, startup_seconds

log = logging.getLogger(__name__)

KEYS = ["dataset", "model", "method", "method_name", "augmentation", "budget", "seed"]
GROUP = ["dataset", "model", "augmentation"]


def _data_columns(spec: dict) -> dict:
    """What the dataset is, from the run's own spec: its imbalance, and its source without the imbalance.

    Two variants with the same `data_source` differ only by their imbalance, so
    claims.py can pair a long-tailed set with its balanced original.
    """
    data = dict(spec.get("dataset_spec") or {})
    imbalance = data.pop("imbalance", None) or {}
    kind = imbalance.get("kind", "none")
    ratio = float(imbalance.get("ratio", 1.0)) if kind != "none" else 1.0
    noise = data.get("label_noise") or {}
    if noise.get("kind", "none") == "none":  # runs made before label_noise existed have none: same data_source
        data.pop("label_noise", None)
    return {"imbalance": kind if ratio > 1 else "none", "imbalance_ratio": ratio,
            "label_noise": noise.get("kind", "none"), "noise_rate": float(noise.get("rate", 0.0)),
            "data_source": json.dumps(data, sort_keys=True)}


def _coordinates(info: dict) -> dict:
    spec = info["spec"]
    return {
        "dataset": spec["dataset"], "model": spec["model"], "method": spec["label"], "method_name": spec["method"],
        "augmentation": spec["augmentation"], "budget": spec["budget"], "seed": spec["seed"],
        "config_hash": info["config_hash"], "commit": info["git"]["commit"],
    }


# ---- every run folder is checked before any of its numbers reaches a summary table ----
# run.json is a run's completion marker and records what each table held when the run wrote it
# (steps._write_run: rows and sha256; for metrics.csv its last iteration and final accuracy).

IMPORTANCE_TABLES = RUN_IMPORTANCE_FILES  # read when present (staged, pruned)
SHOWN = 10  # folders listed in a message; the rest are counted


class RunCheckError(ValueError):
    """Run folders given to aggregate are incomplete or disagree with their run.json; the message lists them and the fix."""


def _listed(items: list[str], indent: str = "  ") -> str:
    lines = [indent + item for item in items[:SHOWN]]
    if len(items) > SHOWN:
        lines.append(f"{indent}... and {len(items) - SHOWN} more")
    return "\n".join(lines)


def _incomplete(d: Path) -> tuple[dict | None, str | None]:
    """(run.json's content, None) for a complete folder, else (None, what is missing)."""
    if not d.is_dir():
        return None, "no such folder"
    if not (d / "run.json").exists():
        interrupted = "; resume.pt present: interrupted, a rerun resumes it" if (d / "resume.pt").exists() else ""
        return None, f"no run.json{interrupted}"
    try:
        info = json.loads((d / "run.json").read_text())
        info["spec"]["run_id"]
    except (ValueError, KeyError, TypeError):
        return None, "run.json is not a finished run's record (unreadable, or no spec)"
    missing = [name for name in RUN_TABLES if not (d / name).exists()]
    if missing:
        return None, f"{', '.join(missing)} missing"
    return info, None


def _require_complete(run_dirs: list[Path]) -> list[dict]:
    """Each folder's run.json; RunCheckError listing every folder that is not a finished run."""
    infos, missing = [], []
    for d in run_dirs:
        info, reason = _incomplete(d)
        infos.append(info)
        if reason:
            missing.append(f"{d} ({reason})")
    if missing:
        raise RunCheckError(
            f"{len(missing)} of {len(run_dirs)} run folders given to aggregate are not finished runs:\n{_listed(missing)}\n"
            "Build them first, from the workflow's folder: `snakemake --cores N` makes every missing run of the config "
            "(or name one: `snakemake --cores N <run folder>/run.json`; `python -m sample_importance runs CONFIG` "
            "lists a config's run folders); then aggregate again.")
    return infos


def _table(d: Path, name: str, record: dict | None, problems: list[str]):
    """A table parsed from the very bytes checked against its record (None: not a CSV, or unreadable)."""
    data = (d / name).read_bytes()
    if record and "sha256" in record and hashlib.sha256(data).hexdigest() != record["sha256"]:
        problems.append(f"{name}: sha256 differs from run.json's record (the file changed after the run wrote it)")
    if not name.endswith(".csv"):
        return None
    if not data.endswith(b"\n"):
        problems.append(f"{name}: ends in the middle of a row (no final newline): cut short")
    try:
        frame = read_csv(data)  # class names kept as written: `NA`, `null`, `01` stay themselves
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        problems.append(f"{name}: not a readable CSV ({str(e).strip()})")
        return None
    if record and "rows" in record and len(frame) != record["rows"]:
        problems.append(f"{name}: {len(frame)} rows, run.json records {record['rows']}")
    return frame


def _metrics_problems(m: pd.DataFrame, info: dict, record: dict) -> list[str]:
    """metrics.csv's last row against what run.json says the run ended at: its iterations and final accuracy.

    The record under "tables" is checked when there is one, else run.json's own fields (runs of the
    former format); when both exist they must agree.
    """
    if m.empty or not {"iteration", "test_accuracy"} <= set(m.columns):
        return ["metrics.csv: no iteration / test_accuracy rows"]
    last = {"iteration": float(m["iteration"].iloc[-1]), "test accuracy": float(m["test_accuracy"].iloc[-1])}
    expected = {"iteration": [("tables.metrics.csv.last_iteration", record.get("last_iteration")),
                              ("iterations", info.get("iterations"))],
                "test accuracy": [("tables.metrics.csv.final_test_accuracy", record.get("final_test_accuracy")),
                                  ("final_test_accuracy", info.get("final_test_accuracy"))]}
    problems = []
    for what, sources in expected.items():
        sources = [(where, float(v)) for where, v in sources if v is not None]
        if len(sources) == 2 and not math.isclose(sources[0][1], sources[1][1], rel_tol=1e-9):
            problems.append(f"run.json: {sources[0][0]} {sources[0][1]:.10g} but {sources[1][0]} {sources[1][1]:.10g}")
        if sources and not math.isclose(last[what], sources[0][1], rel_tol=1e-9, abs_tol=1e-12):
            problems.append(f"metrics.csv: last {what} {last[what]:.10g}, run.json {sources[0][0]} is {sources[0][1]:.10g}")
    return problems


def _verify(d: Path, info: dict) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """The folder's tables, and what disagrees with run.json (empty: all agree)."""
    records = info.get("tables") or {}
    problems: list[str] = []
    tables = {}
    for name in (*RUN_TABLES, *IMPORTANCE_TABLES):
        record = records.get(name)
        if not (d / name).exists():
            if record is not None:
                problems.append(f"{name}: missing, run.json records it")
            continue
        if records and record is None:
            problems.append(f"{name}: not in run.json's record (written after the run)")
        frame = _table(d, name, record, problems)
        if frame is not None:
            tables[name] = frame
    if "metrics.csv" in tables:
        problems += _metrics_problems(tables["metrics.csv"], info, records.get("metrics.csv") or {})
    return tables, problems + _record_problems(d, info)


# ---- run.json itself: sealed, its timing usable, and the run of the folder it sits in ----
# The tables are checked against run.json; run.json's own fields are checked here: its seal (provenance.seal) so
# an edited train_seconds or finish time cannot move the wall-clock speedups, timing a clock can produce, and the
# warm-up's run.json and the scoring's score.json, whose seconds the speedups of staged runs add.

LATEST_CLOCK_SKEW_S = 86400  # a finish time this far in the future is no clock's mistake


def _timing_problems(info: dict) -> list[str]:
    """train_seconds a finite non-negative number; started <= finished, neither in the future."""
    problems = []
    seconds = info.get("train_seconds")
    if seconds is not None:
        try:
            ok = math.isfinite(float(seconds)) and float(seconds) >= 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            problems.append(f"train_seconds is {seconds!r}, not a finite number of seconds >= 0")
    times = {}
    for key in ("started", "finished"):
        if info.get(key) is None:
            continue
        try:
            times[key] = datetime.fromisoformat(str(info[key]))
            if times[key].tzinfo is None:
                times[key] = times[key].replace(tzinfo=timezone.utc)
        except ValueError:
            problems.append(f"{key} is {info[key]!r}, not an ISO time")
    latest = datetime.now(timezone.utc) + timedelta(seconds=LATEST_CLOCK_SKEW_S)
    for key, when in times.items():
        if when > latest:
            problems.append(f"{key} is {info[key]}, in the future")
    if len(times) == 2 and times["finished"] < times["started"]:
        problems.append(f"finished {info['finished']} is before started {info['started']}")
    return problems


def _json_or_none(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _record_problems(d: Path, info: dict) -> list[str]:
    """What is wrong with run.json's own fields, and with the warm-up and scoring records a staged run adds."""
    problems = []
    records = [("run.json", info)]
    for what, folder, name in (("warm-up", info.get("warmup_dir"), "run.json"),
                               ("scoring", info.get("importance_dir"), "score.json")):
        other = _json_or_none(Path(folder) / name) if folder else None
        if other is not None:
            records.append((f"{what} {Path(folder) / name}", other))
    for where, record in records:
        if SEAL in record:  # records written before sealing are accepted with a warning (checked_runs)
            bad = seal_problem(record)
            if bad:
                problems.append(f"{where}: {bad}")
        problems += [f"{where}: {p}" for p in _timing_problems(record)]
    return problems


GRID_FOLDER = re.compile(r"-([0-9a-f]{8})$")  # grid.expand: <label>/<dataset>/<model>/<aug>/b<budget>-s<seed>-<hash>


def _foreign(d: Path, info: dict) -> str | None:
    """A folder of the grid (its name ends in a run hash) must hold that run: the config that asks for the folder
    implies the hash, so run.json's run id, recorded hash and the hash of its recorded spec must all be it.
    A folder named otherwise (given by hand to `aggregate`) has no implied run to compare with."""
    match = GRID_FOLDER.search(d.name)
    if not match:
        return None
    spec, implied = info["spec"], match.group(1)
    run_id, recorded = str(spec["run_id"]), str(info.get("config_hash"))
    try:
        from ..provenance import run_hash

        rehashed = run_hash(spec)
    except (KeyError, TypeError, ValueError, OSError):
        rehashed = "(not computable)"
    if d.as_posix().endswith("/" + run_id) and recorded == implied == rehashed:
        return None
    spec_note = "" if rehashed == recorded else f"; its recorded spec hashes to {rehashed}"
    return (f"{d}: this folder is the run with hash {implied} of the config that asks for it, but its run.json is "
            f"the run {run_id} with config hash {recorded}{spec_note} (copied or moved here from another config)")


def _redo(d: Path, info: dict) -> str:
    """How to make this run again: delete and let Snakemake redo it, or the step's command line."""
    spec, run_id = info["spec"], str(info["spec"]["run_id"])
    data = "<the dataset's cached .pt in results/data>"
    depth = len(run_id.split("/")) + 2  # grid.run_dir: <results>/runs/<method>/<run_id>
    if d.as_posix().endswith(f"/runs/{spec['method']}/{run_id}") and len(d.parents) > depth - 1:
        try:
            from ..provenance import dataset_hash

            results = d.parents[depth - 1]
            data = shlex.quote(str(results / "data" / f"{spec['dataset']}-{dataset_hash(spec['dataset_spec'])}.pt"))
        except (KeyError, OSError, ValueError):
            pass
    folder = shlex.quote(str(d))
    if info.get("warmup_dir"):
        step = (f"continue --spec @{folder}/run.json --data {data} --warmup {shlex.quote(str(info['warmup_dir']))}"
                f" --importance {shlex.quote(str(info['importance_dir']))}")
    else:
        importance = f" --importance {shlex.quote(str(info['importance_dir']))}" if info.get("importance_dir") else ""
        step = f"train --spec @{folder}/run.json --data {data}{importance}"
    return (f"redo: `rm -r {folder}` and rerun snakemake, or, from the workflow's folder and before deleting "
            f"anything: python -m sample_importance {step} --out {folder}")


def checked_runs(run_dirs: list[str]) -> list[tuple[Path, dict, dict[str, pd.DataFrame]]]:
    """(folder, run.json, tables) of each run, every table checked against run.json.

    Raises RunCheckError, before anything is computed, naming every folder that is not a finished
    run or whose tables disagree with its run.json, with the check that failed and how to redo it.
    Runs written before run.json recorded checksums are checked on what it records (iterations,
    final accuracy) and accepted with a warning.
    """
    dirs = [Path(d) for d in run_dirs]
    infos = _require_complete(dirs)
    foreign = [problem for d, info in zip(dirs, infos) if (problem := _foreign(d, info))]
    if foreign:
        raise RunCheckError(
            f"refusing to aggregate: {len(foreign)} of {len(dirs)} run folders hold the run of another config\n"
            f"{_listed(foreign)}\nFix: delete each such folder (`rm -r <folder>`) and rerun snakemake, which trains "
            "there the run this config asks for; a run folder holds only the run whose hash ends its name.")
    runs, bad, legacy, unsealed = [], [], [], []
    for d, info in zip(dirs, infos):
        tables, problems = _verify(d, info)
        if problems:
            bad.append((d, info, problems))
        elif "tables" not in info:
            legacy.append(str(d))
        elif SEAL not in info:
            unsealed.append(str(d))
        runs.append((d, info, tables))
    if bad:
        blocks = [f"{d}:\n" + "\n".join(f"  {p}" for p in problems) + f"\n  {_redo(d, info)}"
                  for d, info, problems in bad[:SHOWN]]
        more = f"\n... and {len(bad) - SHOWN} more" if len(bad) > SHOWN else ""
        raise RunCheckError(f"refusing to aggregate: {len(bad)} of {len(dirs)} run folders disagree with their run.json "
                            f"(a table or run.json was cut short or edited after the run wrote it)\n" + "\n".join(blocks) + more)
    if legacy:
        log.warning("%d of %d runs were written before run.json recorded table checksums (e.g. %s): only their last "
                    "iteration and final accuracy were checked against run.json, an edit elsewhere in their tables "
                    "would go unnoticed; rerun them (delete the folders, rerun snakemake) to have them checked in full",
                    len(legacy), len(dirs), legacy[0])
    if unsealed:
        log.warning("%d of %d runs were written before run.json was sealed (e.g. %s): their tables were checked, but "
                    "an edit of run.json's own fields (train_seconds, started, finished) would go unnoticed; rerun "
                    "them (delete the folders, rerun snakemake) to have them checked in full",
                    len(unsealed), len(dirs), unsealed[0])
    return runs


def load_runs(run_dirs: list[str], shot_thresholds: dict | None = None) -> dict[str, pd.DataFrame]:
    """The runs' tables, each checked against its run.json first (`checked_runs`): a bad run raises RunCheckError."""
    curves, finals, per_class, draws, balance, jobs, costs = [], [], [], [], [], [], []
    commits, dirty = set(), []
    for d, info, tables in checked_runs(run_dirs):
        coords = _coordinates(info)
        commits.add(info["git"]["commit"])
        if info["git"].get("dirty"):
            dirty.append(str(d))
        m = tables["metrics.csv"]
        run_job_list, warm_end = run_jobs(info, m)
        jobs.extend(run_job_list)
        started = 1 if warm_end is None else np.where(m["iteration"] <= warm_end, 1, STAGED_JOBS)
        # the figures mark where a staged run's warm-up ends (NaN for every other method)
        warm = info["spec"].get("method_params", {}).get("warmup_epochs") if info["spec"].get("staged") else None
        m = m.assign(jobs_started=started, warmup_epochs=np.nan if warm is None else float(warm), **coords)
        curves.append(m)
        costs.append({**coords, **scoring_cost(info)})
        pc = tables["per_class.csv"].assign(**coords)
        per_class.append(pc)
        dr = tables["class_draws.csv"].assign(**coords)
        draws.append(dr)
        finals.append({
            **coords, **_data_columns(info["spec"]), "jobs": int(np.max(started)),
            "final_test_accuracy": m["test_accuracy"].iloc[-1],
            "best_test_accuracy": m["test_accuracy"].max(),
            "worst_class_accuracy": pc["test_accuracy"].min(),
            **longtail_accuracies(pc, shot_thresholds),  # balanced accuracy and many/medium/few-shot accuracy
            "n_test": int(pc["n_test"].sum()) if "n_test" in pc else np.nan,  # the accuracy's resolution (stats.py)
            "iterations": int(m["iteration"].iloc[-1]),
            "examples_forwarded": int(m["examples_forwarded"].iloc[-1]),
            "examples_backpropagated": int(m["examples_backpropagated"].iloc[-1]),
            "wall_seconds": m["wall_seconds"].iloc[-1],
        })
        if "importance/classes.csv" in tables:
            balance.append(tables["importance/classes.csv"].assign(**coords))
        finals[-1].update(_sampling_columns(d, info))
    if len(commits) > 1:  # a run id changes only when RESULTS_VERSION says the numbers changed
        log.warning("these %d runs were made by %d git commits (%s): compare them only if no change between "
                    "those commits alters results; the `commit` column says which made each", len(finals),
                    len(commits), ", ".join(sorted(c[:10] for c in commits)))
    if dirty:
        log.warning("%d of %d runs were made from a checkout with uncommitted changes (run.json git.dirty), e.g. %s",
                    len(dirty), len(finals), dirty[0])
    return {
        "curves": pd.concat(curves, ignore_index=True),
        "final": pd.DataFrame(finals),
        "per_class": pd.concat(per_class, ignore_index=True),
        "draws": pd.concat(draws, ignore_index=True),
        "class_balance": pd.concat(balance, ignore_index=True) if balance else pd.DataFrame(
            columns=[*KEYS, "class_index", "class", "n_train", "train_share", "balanced_share", "sampling_share"]),
        "jobs": pd.DataFrame(jobs, columns=["job", "span", "train", "evaluations"]),
        "scoring": pd.DataFrame(costs),
    }


def _sampling_columns(run_dir: Path, info: dict) -> dict:
    """How flat the distribution a staged run sampled by was: its smoothing and methods.importance.sampling_flatness.

    NaN for runs that do not sample by scores, so the methods table shows the choice beside the accuracy.
    """
    from ..methods import method_class

    weights = run_dir / "importance" / "weights.npy"
    spec = info["spec"]
    smoothing = {**method_class(spec["method"]).defaults, **spec.get("method_params", {})}.get("smoothing")
    if not weights.exists() or smoothing is None:
        return {"smoothing": np.nan, "max_min_ratio": np.nan, "ess_fraction": np.nan, "top10_share": np.nan}
    from ..methods.importance import sampling_flatness

    return {"smoothing": float(smoothing), **sampling_flatness(np.load(weights))}


def methods_table(final: pd.DataFrame, margins=None, correction: str = "holm") -> pd.DataFrame:
    """Final accuracy per method and budget: t-interval over seeds, tests against uniform per column (budget_table)."""
    table = comparison_table(final, margins=margins, correction=correction)
    if table.empty:
        return table.assign(balanced_mean=pd.Series(dtype=float))
    keys = [*GROUP, "budget", "method"]
    extra = [c for c in ("balanced_accuracy", *SHOT_COLUMNS, "smoothing", "ess_fraction", "max_min_ratio") if c in final]
    means = final.groupby(keys, sort=False)[extra].mean().rename(
        columns={"balanced_accuracy": "balanced_mean", **{c: c.replace("_accuracy", "_mean") for c in SHOT_COLUMNS}})
    return table.join(means, on=keys)


def speedup_tables(tables: dict[str, pd.DataFrame], fraction: float) -> None:
    """speedup (per seed) and speedup_summary, the wall clock with the config's fitted job start-up."""
    startup = startup_seconds(tables.pop("jobs"))
    scoring = tables.pop("scoring")
    curves = add_costs(tables["curves"].merge(scoring, on=[*KEYS, "config_hash", "commit"], how="left"), startup)
    tables["speedup"] = speedup_mod.per_seed(curves, tables["final"], fraction, startup)
    tables["speedup_summary"] = speedup_mod.summarise(tables["speedup"])
    tables["budget_to_target"] = speedup_mod.budget_to_target(tables["final"], fraction)
    log.info("speedup target: %g x uniform's final accuracy; job start-up %.2f s (fitted from run.json times)",
             fraction, startup)


def aggregate(run_dirs: list[str], out_dir: str,
              target_fraction: float = speedup_mod.DEFAULT_TARGET_FRACTION, margins=None,
              correction: str = "holm", shot_thresholds: dict | None = None) -> dict[str, pd.DataFrame]:
    tables = load_runs(run_dirs, shot_thresholds)
    speedup_tables(tables, target_fraction)
    tables["methods"] = methods_table(tables["final"], margins, correction)
    tables["budget_table"] = budget_table(tables["final"], margins=margins, correction=correction)
    write_budget_markdown(Path(out_dir) / "budget_table.md", tables["budget_table"], margins)
    commits = sorted(tables["final"]["commit"].unique())
    for name in ("speedup", "speedup_summary", "methods"):
        tables[name]["commits"] = ";".join(commits)
    order = [*KEYS]
    for name in SUMMARY_TABLES:
        frame = tables[name]
        first = [c for c in order if c in frame.columns]
        frame = frame[first + [c for c in frame.columns if c not in first]]
        write_csv(Path(out_dir) / f"{name}.csv", frame)
    log.info("aggregated %d runs into %s", len(run_dirs), out_dir)
    return tables
