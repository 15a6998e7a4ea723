"""Command line: one sub-command per pipeline step, so each runs by hand as it runs in a rule.

    python -m sample_importance check-config config.yaml
    python -m sample_importance runs config.yaml            # list the runs a config implies
    python -m sample_importance prepare-data --name digits --spec '{"source": "digits"}' --out results/data/digits-<hash>.pt
    python -m sample_importance train    --spec @RUN/run.json --data results/data/digits-<hash>.pt --out DIR
    python -m sample_importance warmup   --spec @warmup.json --data ... --out DIR/warmup
    python -m sample_importance score    --spec @run.json --records DIR/warmup/records.pt --out DIR/importance
    python -m sample_importance continue --spec @run.json --data ... --warmup ... --importance ... --out DIR
    python -m sample_importance score-checkpoints --spec @run.json --data ... --out DIR/importance WARMUP [WARMUP ...]
    python -m sample_importance train    --spec @run.json --data ... --importance DIR/importance --out DIR
                                         # el2n_prune: fresh run on the kept subset (without --importance it
                                         # runs its scoring trainings in the same process)
    python -m sample_importance aggregate --out results/summary RUN_DIR [RUN_DIR ...]
    python -m sample_importance plot --summary results/summary --out figures

Imports are lazy so that start-up stays small for the steps that do not train.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path


def _spec(text: str) -> dict:
    """A run spec given inline or as @path: a spec, or a finished run's run.json (its "spec", to redo it)."""
    if text.startswith("@"):
        text = Path(text[1:]).read_text()
    obj = json.loads(text)
    return obj["spec"] if isinstance(obj.get("spec"), dict) else obj


def _config(path: str) -> dict:
    from .config import load_config, validate

    return validate(load_config(path))


def cmd_check_config(a) -> None:
    from .grid import expand

    grid = expand(_config(a.config))
    print(f"{a.config}: valid; {len(grid.runs)} runs, {len(grid.warmups)} warm-ups")


def cmd_runs(a) -> None:
    from .grid import expand

    grid = expand(_config(a.config))
    for run_id in grid.runs:
        print(grid.run_dir(run_id))


def cmd_methods(a) -> None:
    from .methods import method_class, names

    for name in names():
        cls = method_class(name)
        doc = (cls.__module__ and sys.modules[cls.__module__].__doc__ or "").strip().splitlines()[0]
        print(f"{name:20s} {json.dumps(cls.defaults)}\n{'':20s} {doc}")


def cmd_prepare_data(a) -> None:
    from .steps import prepare_data

    prepare_data(a.name, _spec(a.spec), a.out)


def _threads(a, spec: dict) -> dict:
    """The job's thread count overrides the config's (not part of the run's identity)."""
    if a.threads:
        spec["train"] = {**spec["train"], "threads": a.threads}
    return spec


def cmd_train(a) -> None:
    from .steps import train

    train(_threads(a, _spec(a.spec)), a.data, a.out, progress=not a.no_progress, importance_dir=a.importance)


def cmd_warmup(a) -> None:
    from .steps import warmup

    warmup(_threads(a, _spec(a.spec)), a.data, a.out, progress=not a.no_progress)


def cmd_score(a) -> None:
    from .steps import score

    score(_spec(a.spec), a.records, a.out)


def cmd_score_checkpoints(a) -> None:
    from .steps import score_checkpoints

    score_checkpoints(_spec(a.spec), a.data, a.warmups, a.out)


def cmd_continue(a) -> None:
    from .steps import continue_run

    continue_run(_threads(a, _spec(a.spec)), a.data, a.warmup, a.importance, a.out, progress=not a.no_progress)


def cmd_aggregate(a) -> None:
    from .analysis.aggregate import aggregate

    aggregate(a.runs, a.out)


def cmd_plot(a) -> None:
    from .figures.plots import plot_all

    plot_all(a.summary, a.out)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sample_importance", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    sub = p.add_subparsers(dest="command", required=True)

    def add(name, func, help_):
        sp = sub.add_parser(name, help=help_)
        sp.set_defaults(func=func)
        return sp

    add("check-config", cmd_check_config, "validate a config and count its runs").add_argument("config")
    add("runs", cmd_runs, "list the run folders a config implies").add_argument("config")
    add("methods", cmd_methods, "list the methods and their parameters")
    sp = add("prepare-data", cmd_prepare_data, "read a dataset variant and cache it as tensors")
    sp.add_argument("--name", required=True)
    sp.add_argument("--spec", required=True, help="dataset settings as JSON or @file")
    sp.add_argument("--out", required=True)
    for name, func, help_ in (("train", cmd_train, "one whole run"), ("warmup", cmd_warmup, "warm-up epochs of a staged method"),
                              ("continue", cmd_continue, "continue a warm-up with scored weights")):
        sp = add(name, func, help_)
        sp.add_argument("--spec", required=True, help="run spec as JSON or @file (see `runs`)")
        sp.add_argument("--data", required=True, help="cached dataset (.pt)")
        sp.add_argument("--out", required=True, help="output folder")
        sp.add_argument("--no-progress", action="store_true")
        sp.add_argument("--threads", type=int, default=0, help="CPU threads (overrides train.threads; Snakemake passes the job's)")
        if name == "continue":
            sp.add_argument("--warmup", required=True, help="warm-up folder (checkpoint.pt)")
            sp.add_argument("--importance", required=True, help="score folder (weights.npy)")
        if name == "train":
            sp.add_argument("--importance", default=None,
                            help="static pruning (el2n_prune): score folder of score-checkpoints (weights.npy)")
    sp = add("score", cmd_score, "importance weights from warm-up records")
    sp.add_argument("--spec", required=True)
    sp.add_argument("--records", required=True)
    sp.add_argument("--out", required=True)
    sp = add("score-checkpoints", cmd_score_checkpoints,
             "static pruning (el2n_prune): mean score over warm-up checkpoints, kept subset")
    sp.add_argument("--spec", required=True, help="the pruned run's spec as JSON or @file")
    sp.add_argument("--data", required=True, help="cached dataset (.pt)")
    sp.add_argument("--out", required=True, help="score folder")
    sp.add_argument("warmups", nargs="+", help="warm-up folders (checkpoint.pt, run.json), one per score seed")
    sp = add("aggregate", cmd_aggregate, "tidy summary tables from run folders")
    sp.add_argument("--out", required=True)
    sp.add_argument("runs", nargs="+")
    sp = add("plot", cmd_plot, "figures from the summary tables")
    sp.add_argument("--summary", required=True)
    sp.add_argument("--out", required=True)
    return p


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .config import ConfigError

    expected = [ConfigError]
    if args.command in ("prepare-data", "train", "warmup", "continue", "score-checkpoints"):
        from .data.datasets import DataError
        from .training.engine import DivergenceError

        expected += [DataError, DivergenceError]
    try:
        args.func(args)
    except tuple(expected) as e:  # a known failure: its message says what and how to fix, no traceback needed
        sys.exit(f"error: {e}")
    if args.command in ("prepare-data", "train", "warmup", "score", "continue", "score-checkpoints"):
        # Every output is written and closed (atomically) by now; skipping the interpreter's
        # teardown of torch saves about a second per job, which adds up over a grid.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
