"""Command line: one sub-command per pipeline step, so each runs by hand as it runs in a rule.

Look around:
    python -m sample_importance check-config config.yaml [extra.yaml ...]   # merged in order, as --configfile A B
    python -m sample_importance runs config.yaml                           # the run folders a config implies
    python -m sample_importance spec config.yaml RUN_FOLDER_OR_ID > spec.json   # one run's spec (+ how to start it)
    python -m sample_importance methods

Train (what the rules prepare_data, train, warmup, score, continue, score_checkpoints, train_pruned run):
    python -m sample_importance prepare-data --name digits --spec '{"source": "digits"}' --out results/data/digits-<hash>.pt
    python -m sample_importance train    --spec @spec.json --data results/data/digits-<hash>.pt --out RUN_FOLDER
    python -m sample_importance warmup   --spec @warmup.json --data ... --out WARMUP_FOLDER
    python -m sample_importance score    --spec @spec.json --records WARMUP_FOLDER/records.pt --out RUN_FOLDER/importance
    python -m sample_importance continue --spec @spec.json --data ... --warmup WARMUP_FOLDER --importance ... --out RUN_FOLDER
    python -m sample_importance score-checkpoints --spec @spec.json --data ... --out RUN_FOLDER/importance WARMUP [...]
    python -m sample_importance train    --spec @spec.json --data ... --importance RUN_FOLDER/importance --out RUN_FOLDER
                                         # el2n_prune: a fresh run on the kept subset (without --importance
                                         # it runs its scoring trainings in the same process)
    --spec also takes a finished run's run.json (@RUN_FOLDER/run.json): the same run again.

Analyse (rules aggregate, claims, plots, html_tables, importance_tables, importance_plots, figures_readme):
    python -m sample_importance aggregate --out results/summary [--target-fraction 0.98] RUN_FOLDER [...]
    python -m sample_importance claims --summary results/summary
    python -m sample_importance plot --summary results/summary --out figures
    python -m sample_importance html-tables --summary results/summary --out figures/tables
    python -m sample_importance importance-tables --out results/summary [--scoring biased:one_minus_p:0.5] WARMUP/records.pt [...]
    python -m sample_importance importance-plots --summary results/summary --out figures --data digits=results/data/digits-<hash>.pt \\
        [--staged biased] WARMUP/records.pt [...]
    python -m sample_importance figures-readme --out figures/README.md STEM=CAPTION.rst [...]

Imports are lazy so that start-up stays small for the steps that do not train.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger("sample_importance")

METHODS_DOC = "Each method against its authors' code: docs/methods.md"
TRAINING = ("prepare-data", "train", "warmup", "continue", "score-checkpoints")
STEPS = (*TRAINING, "score")  # jobs whose outputs are all written (atomically) when the function returns


def _spec(text: str) -> dict:
    """A run spec given inline or as @path: a spec, or a finished run's run.json (its "spec", to redo it)."""
    if text.startswith("@"):
        text = Path(text[1:]).read_text()
    obj = json.loads(text)
    return obj["spec"] if isinstance(obj.get("spec"), dict) else obj


def _config(paths: list[str]) -> dict:
    """The config files merged in order and validated: the one check the Snakefile runs too."""
    from .config import check_config

    return check_config(paths)


# ----------------------------------------------------------------------------- look around


def cmd_check_config(a) -> None:
    from .grid import expand

    grid = expand(_config(a.config))
    print(f"{' + '.join(a.config)}: valid; {len(grid.runs)} runs, {len(grid.warmups)} warm-ups")


def cmd_runs(a) -> None:
    from .grid import expand

    grid = expand(_config(a.config))
    for run_id in grid.runs:
        print(grid.run_dir(run_id))


def cmd_spec(a) -> None:
    """Print one run's spec as JSON (stdout) and the commands that make it by hand (log, stderr)."""
    from .grid import expand

    config = _config(a.config)
    grid = expand(config)
    kind, run_id = find_run(grid, a.run)
    spec = grid.runs[run_id] if kind == "run" else grid.warmups[run_id]
    print(json.dumps(spec, indent=2, sort_keys=True))
    folder = grid.run_dir(run_id) if kind == "run" else grid.warmup_dir(run_id)
    # the rules pass the job's thread count (resources.cpus_per_task), and torch's thread count changes the numbers
    threads = config.get("resources", {}).get("cpus_per_task", 1)
    for line in start_commands(grid, spec, folder, kind, threads):
        log.info("%s", line)


def find_run(grid, text: str) -> tuple[str, str]:
    """("run" | "warm-up", id) named by `text`: an id, a folder (or a file in it), or a unique part of one."""
    from .config import ConfigError

    wanted = text.rstrip("/")
    if Path(wanted).name in ("run.json", "metrics.csv", "checkpoint.pt", "records.pt"):
        wanted = str(Path(wanted).parent)
    folders = {**{i: ("run", grid.run_dir(i)) for i in grid.runs}, **{i: ("warm-up", grid.warmup_dir(i)) for i in grid.warmups}}
    exact = [i for i, (_, f) in folders.items() if wanted in (i, f) or wanted.endswith(f"/{i}")]
    found = exact or [i for i, (_, f) in folders.items() if wanted in f]
    if len(found) == 1:
        return folders[found[0]][0], found[0]
    if not found:
        raise ConfigError(f"{text!r} is not a run or warm-up of this config. "
                          "Fix: pick a folder that `runs CONFIG` lists (or a part of it that only one has).")
    shown = "\n  ".join(folders[i][1] for i in found[:5]) + ("\n  ..." if len(found) > 5 else "")
    example = folders[found[0]][1].rsplit("-", 1)[0].split("/", 2)[-1]
    raise ConfigError(f"{text!r} names {len(found)} runs:\n  {shown}\n"
                      f"Fix: give more of the folder name, e.g. {example!r} (method/label/dataset/model/augmentation/b-s).")


def start_commands(grid, spec: dict, folder: str, kind: str, threads: int = 1) -> list[str]:
    """How to make this run by hand, after saving the printed spec as spec.json (the cache as common.smk names it).

    `threads`: the job's thread count (resources.cpus_per_task), passed as the rule passes it, so that the
    command reproduces the pipeline's run bit for bit on the same machine (Snakemake lowers it to --cores
    when fewer are given)."""
    import shlex

    from .provenance import dataset_hash

    data = f"{grid.results}/data/{spec['dataset']}-{dataset_hash(spec['dataset_spec'])}.pt"
    step = "warmup" if kind == "warm-up" else "train"
    lines = [f"{kind} {spec['run_id']}: to make it by hand, save the JSON printed as spec.json and run"]
    if not Path(data).exists():
        dataset = shlex.quote(json.dumps(spec["dataset_spec"], sort_keys=True))
        lines.append(f"  python -m sample_importance prepare-data --name {spec['dataset']} --spec {dataset} --out {shlex.quote(data)}")
    lines.append(f"  python -m sample_importance {step} --spec @spec.json --data {shlex.quote(data)} --out {shlex.quote(folder)}"
                 f" --threads {threads}")
    return lines


def cmd_methods(a) -> None:
    from .methods import method_class, names

    for name in names():
        cls = method_class(name)
        doc = (cls.__module__ and sys.modules[cls.__module__].__doc__ or "").strip().splitlines()[0]
        print(f"{name:20s} {json.dumps(cls.defaults)}\n{'':20s} {doc}")
    print(f"\n{METHODS_DOC}")


def cmd_estimate(a) -> None:
    """Calibrate on this device, project every job of the config (cost/estimate.py), print and write the table."""
    from .cost.estimate import estimate, format_table, write_csv

    est = estimate(_config(a.config), a.device, a.concurrency, a.throughput, a.calibration_seconds,
                   log=lambda m: log.info("%s", m))
    print(f"{' + '.join(a.config)} on {est.calibration.device}, {est.calibration.threads} thread(s) per job, "
          f"{est.concurrency} at a time (throughput {est.throughput:g}x one); calibration took "
          f"{est.calibration.seconds:.1f} s")
    print(format_table(est))
    for note in est.notes:
        print(f"note: {note}")
    if a.out:
        write_csv(est, a.out)
        print(f"written: {a.out}")


# ----------------------------------------------------------------------------- training steps


def cmd_prepare_data(a) -> None:
    from .steps import prepare_data

    prepare_data(a.name, _spec(a.spec), a.out)


def _threads(a, spec: dict) -> dict:
    """The job's thread count overrides the config's (not part of the run's identity)."""
    if a.threads:
        spec["train"] = {**spec["train"], "threads": a.threads}
    return spec


def report_run(out: str) -> None:
    """The last line of a run: its final test accuracy and where it lies (read back from the run.json written)."""
    info = json.loads((Path(out) / "run.json").read_text())
    what = f"warm-up ({info['warmup_epochs']} epochs)" if "warmup_epochs" in info else "run"
    log.info("%s done: final test accuracy %.4f after %d of %d iterations; outputs in %s",
             what, info["final_test_accuracy"], info["iterations"], info["total_steps"], out)


def cmd_train(a) -> None:
    from .steps import train

    train(_threads(a, _spec(a.spec)), a.data, a.out, progress=not a.no_progress, importance_dir=a.importance)
    report_run(a.out)


def cmd_warmup(a) -> None:
    from .steps import warmup

    warmup(_threads(a, _spec(a.spec)), a.data, a.out, progress=not a.no_progress)
    report_run(a.out)


def cmd_continue(a) -> None:
    from .steps import continue_run

    continue_run(_threads(a, _spec(a.spec)), a.data, a.warmup, a.importance, a.out, progress=not a.no_progress)
    report_run(a.out)


def cmd_score(a) -> None:
    from .steps import score

    weights = score(_spec(a.spec), a.records, a.out)
    report_score(a.records, a.out, weights)


def report_score(records: str, out: str, weights) -> None:
    """What the score step did: which records, metric and smoothing, how many samples, how flat the result."""
    from .methods.importance import sampling_flatness

    info = json.loads((Path(out) / "score.json").read_text())
    params = info.get("method_params", {})
    flat = sampling_flatness(weights)
    log.info("scored %d samples from %s (warm-up epochs 1-%s): metric %s, smoothing %s; sampling max/min %.3g, "
             "effective sample size %.2f N, top 10 %% of samples hold %.0f %% of the draws; weights in %s",
             len(weights), records, info.get("warmup_epochs"), params.get("metric", "-"), params.get("smoothing", "-"),
             flat["max_min_ratio"], flat["ess_fraction"], 100 * flat["top10_share"], out)


def cmd_score_checkpoints(a) -> None:
    from .steps import score_checkpoints

    score_checkpoints(_spec(a.spec), a.data, a.warmups, a.out)


# ----------------------------------------------------------------------------- analysis steps


def cmd_aggregate(a) -> None:
    from .analysis.aggregate import aggregate

    shots = None if a.shot_thresholds is None else dict(zip(("many", "few"), a.shot_thresholds))
    aggregate(a.runs, a.out, *([] if a.target_fraction is None else [a.target_fraction]), margins=_margins(a),
              correction=a.correction, shot_thresholds=shots)


def _margins(a):
    """The config's `analysis` fields as given on the command line (the rules pass the validated config's values)."""
    from .analysis.verdicts import Margins

    try:
        return Margins(accuracy=a.accuracy_margin / 100.0, speedup=a.speedup_margin, alpha=a.alpha, power=a.power)
    except ValueError as e:  # name the flag beside the config field
        raise SystemExit(f"error: {e} (command-line flags --accuracy-margin, --speedup-margin, --alpha, --power)")


def cmd_claims(a) -> None:
    from .analysis.claims import write_claims

    from .analysis.power import write_power

    write_claims(a.summary, a.out, _margins(a), noise=a.noise, importance=a.importance)
    write_power(a.summary, a.out, _margins(a), a.correction)


def cmd_power(a) -> None:
    from .analysis.power import write_power

    table = write_power(a.summary, a.out, _margins(a), a.correction)
    print(table.to_string(index=False) if len(table) else "no comparisons with uniform in this summary")


def cmd_noise_tables(a) -> None:
    from .analysis.noise import write_tables

    write_tables(a.summary, a.data, a.records, a.out)


def cmd_noise_plots(a) -> None:
    from .figures.plots_noise import plot_noise

    plot_noise(a.summary, a.out)


def cmd_plot(a) -> None:
    from .figures.plots import plot_all

    plot_all(a.summary, a.out)


def cmd_html_tables(a) -> None:
    from .figures.html_tables import write_html_tables

    write_html_tables(a.summary, a.out)


def cmd_importance_tables(a) -> None:
    from .analysis.importance_analysis import Scoring, write_tables

    write_tables(a.records, a.out, a.k, [Scoring.parse(x) for x in a.scoring])


def cmd_importance_plots(a) -> None:
    from .figures.plots_importance import plot_importance

    plot_importance(a.summary, a.records, dict(_pairs(a.data, "--data")), a.staged or ["biased"], a.out)


def cmd_figures_readme(a) -> None:
    from .figures.plots_importance import write_readme

    write_readme(a.out, _pairs(a.entries, "STEM=CAPTION"))


def _pairs(items: list[str], what: str) -> list[tuple[str, str]]:
    bad = [item for item in items if "=" not in item]
    if bad:
        raise SystemExit(f"error: {what} wants NAME=VALUE, got {bad[0]!r}")
    return [tuple(item.split("=", 1)) for item in items]


# ----------------------------------------------------------------------------- parser


class _Version(argparse.Action):
    """--version: the package's version and, when it runs from a git checkout, the commit (asked only here)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="print the version (and git commit) and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog} {version()}")
        parser.exit()


def version() -> str:
    import subprocess
    from importlib import metadata

    try:
        text = metadata.version("sample-importance")
    except metadata.PackageNotFoundError:
        text = "(not installed)"
    try:
        here = Path(__file__).resolve().parent
        commit = subprocess.run(["git", "-C", str(here), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=5)
        if commit.returncode == 0:
            text += f" (git {commit.stdout.strip()})"
    except (OSError, subprocess.SubprocessError):
        pass
    return text


def _run_options(sp, spec_help: str = "run spec as JSON or @file: see `spec`, or a finished run's run.json") -> None:
    sp.add_argument("--spec", required=True, help=spec_help)
    sp.add_argument("--data", required=True, help="cached dataset (.pt) written by prepare-data")
    sp.add_argument("--out", required=True, help="output folder (written atomically, run.json last)")
    sp.add_argument("--no-progress", action="store_true", help="no progress bar (rules' logs)")
    sp.add_argument("--threads", type=int, default=0, help="CPU threads (overrides train.threads; Snakemake passes the job's)")


def _analysis_args(sp, correction: bool = False) -> None:
    """The config's `analysis` margins, level and power (defaults: the schema's)."""
    if correction:
        sp.add_argument("--correction", choices=["holm", "fdr_bh"], default="holm",
                        help="analysis.table_correction: the method tables' correction within a column (default holm)")
    sp.add_argument("--accuracy-margin", type=float, default=0.5, metavar="POINTS",
                    help="analysis.margins.accuracy_points: smallest accuracy difference that matters (default 0.5)")
    sp.add_argument("--speedup-margin", type=float, default=0.9, metavar="RATIO",
                    help="analysis.margins.speedup_ratio: on par means inside [RATIO, 1/RATIO] (default 0.9)")
    sp.add_argument("--alpha", type=float, default=0.05, help="analysis.alpha: level after correction (default 0.05)")
    sp.add_argument("--power", type=float, default=0.8, help="analysis.power: power of the stated MDE (default 0.8)")


def build_parser(prog: str = "python -m sample_importance") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action=_Version)
    p.add_argument("-q", "--quiet", action="store_true", help="log warnings only (default: progress on stderr)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND",
                         help="the step to run; `COMMAND -h` lists its options")

    def add(name, func, help_):
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(func=func)
        return sp

    config_help = "config files, merged in order as by --configfile A B"
    add("check-config", cmd_check_config, "validate config files and count their runs").add_argument(
        "config", nargs="+", help=config_help)
    add("runs", cmd_runs, "list the run folders a config implies").add_argument("config", nargs="+", help=config_help)
    sp = add("spec", cmd_spec, "print one run's spec as JSON (start it by hand with train --spec @file)")
    sp.add_argument("config", nargs="+", help=config_help)
    sp.add_argument("run", metavar="RUN_FOLDER_OR_ID",
                    help="a run or warm-up folder (as `runs` lists it), its id, or a part of it only one has")
    add("methods", cmd_methods, "list the methods and their parameters")
    sp = add("estimate", cmd_estimate, "time a short calibration on this device and project the grid's hours")
    sp.add_argument("config", nargs="+", help=config_help)
    sp.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: the config's train.device)")
    sp.add_argument("--concurrency", type=int, default=1, help="runs at a time (--cores / --resources gpu=N)")
    sp.add_argument("--throughput", type=float, default=None,
                    help="runs/hour at N / at 1 (benchmarks/concurrent_runs.py); default: CPU cores/threads, GPU 1")
    sp.add_argument("--calibration-seconds", type=float, default=0.4, help="least steady-state time per kind")
    sp.add_argument("--out", default=None, help="write the table as CSV")

    sp = add("prepare-data", cmd_prepare_data, "read a dataset variant and cache it as tensors")
    sp.add_argument("--name", required=True, help="dataset name (its key under `datasets:` in the config)")
    sp.add_argument("--spec", required=True, help="dataset settings as JSON or @file")
    sp.add_argument("--out", required=True, help="cache file (.pt)")
    sp = add("train", cmd_train, "one whole run (a staged method's warm-up, score and continuation in one process)")
    _run_options(sp)
    sp.add_argument("--importance", default=None,
                    help="static pruning (el2n_prune): score folder of score-checkpoints (weights.npy)")
    _run_options(add("warmup", cmd_warmup, "the warm-up epochs of a staged method: checkpoint and records"),
                 "warm-up spec as JSON or @file (see `spec`)")
    sp = add("score", cmd_score, "importance weights of a staged method from warm-up records")
    sp.add_argument("--spec", required=True, help="the run's spec as JSON or @file (its method and parameters)")
    sp.add_argument("--records", required=True, help="a warm-up's records.pt")
    sp.add_argument("--out", required=True, help="score folder (weights.npy, scores.npy, classes.csv, score.json)")
    sp = add("continue", cmd_continue, "continue a warm-up, drawing samples by the scored weights")
    _run_options(sp)
    sp.add_argument("--warmup", required=True, help="warm-up folder (checkpoint.pt)")
    sp.add_argument("--importance", required=True, help="score folder (weights.npy)")
    sp = add("score-checkpoints", cmd_score_checkpoints,
             "static pruning (el2n_prune): mean score over warm-up checkpoints, kept subset")
    sp.add_argument("--spec", required=True, help="the pruned run's spec as JSON or @file")
    sp.add_argument("--data", required=True, help="cached dataset (.pt)")
    sp.add_argument("--out", required=True, help="score folder")
    sp.add_argument("warmups", nargs="+", help="warm-up folders (checkpoint.pt, run.json), one per score seed")

    sp = add("aggregate", cmd_aggregate, "tidy summary tables from run folders")
    sp.add_argument("--out", required=True, help="summary folder")
    sp.add_argument("--target-fraction", type=float, default=None,
                    help="speedup target = this x uniform's final accuracy at the full budget "
                         "(config analysis.speedup_target_fraction; default 0.98)")
    _analysis_args(sp, correction=True)
    sp.add_argument("--shot-thresholds", type=int, nargs=2, metavar=("MANY", "FEW"), default=None,
                    help="analysis.shot_thresholds: many-shot classes have more than MANY training images, few-shot "
                         "fewer than FEW (default 100 20)")
    sp.add_argument("runs", nargs="+", help="run folders (run.json, metrics.csv, ...)")
    sp = add("claims", cmd_claims, "the papers' claims tested on the summary tables (claims.csv, claims.md)")
    sp.add_argument("--summary", required=True, help="folder of the summary tables (aggregate, importance-tables)")
    sp.add_argument("--out", default=None, help="where claims.csv, claims.md and power.csv go (default: --summary)")
    _analysis_args(sp, correction=True)
    on_off = argparse.BooleanOptionalAction
    sp.add_argument("--noise", action=on_off, default=None,
                    help="read noise_draws.csv (the config has label-noise datasets); default: when present")
    sp.add_argument("--importance", action=on_off, default=None,
                    help="read importance_correlation.csv (the config has staged methods); default: when present")
    sp = add("power", cmd_power, "what each comparison with uniform could detect, and the seeds that would detect the "
             "margins (power.csv): ask it before spending GPU-days on a grid")
    sp.add_argument("--summary", required=True, help="folder of the summary tables (final.csv, speedup.csv)")
    sp.add_argument("--out", default=None, help="where power.csv goes (default: --summary)")
    _analysis_args(sp, correction=True)
    sp = add("noise-tables", cmd_noise_tables, "noise_*.csv: draws and importance of mislabeled samples (label_noise)")
    sp.add_argument("--summary", required=True, help="folder of the summary tables (draws.csv)")
    sp.add_argument("--out", default=None, help="where noise_*.csv go (default: --summary)")
    sp.add_argument("--data", nargs="+", required=True, help="the config's cached datasets (results/data/*.pt)")
    sp.add_argument("--records", nargs="*", default=[], help="warm-up records.pt files")
    sp = add("noise-plots", cmd_noise_plots, "figure of the share of draws on mislabeled samples")
    sp.add_argument("--summary", required=True, help="folder of the noise tables")
    sp.add_argument("--out", required=True, help="figures folder")
    sp = add("plot", cmd_plot, "figures from the summary tables")
    sp.add_argument("--summary", required=True, help="folder of the summary tables")
    sp.add_argument("--out", required=True, help="figures folder")
    sp = add("html-tables", cmd_html_tables,
             "sortable HTML pages of methods, budget_table, speedup_summary and claims (when present), for the report")
    sp.add_argument("--summary", required=True, help="folder of the summary tables")
    sp.add_argument("--out", required=True, help="folder of the pages (<table>.html)")
    sp = add("importance-tables", cmd_importance_tables, "importance_*.csv tables from warm-up records")
    sp.add_argument("--out", required=True, help="folder of the importance_*.csv tables")
    sp.add_argument("--k", type=int, default=4, help="easy and hard samples per class")
    sp.add_argument("--scoring", action="append", default=[], metavar="LABEL:METRIC:SMOOTHING",
                    help="a staged method's metric and smoothing, tabulated in importance_sampling (repeat)")
    sp.add_argument("records", nargs="+", help="warm-up records.pt files")
    sp = add("importance-plots", cmd_importance_plots, "the importance figures and the methods figure")
    sp.add_argument("--summary", required=True, help="folder of the summary and importance_*.csv tables")
    sp.add_argument("--out", required=True, help="figures folder")
    sp.add_argument("--data", action="append", required=True, metavar="NAME=PATH",
                    help="a cached dataset (repeat, in config order)")
    sp.add_argument("--staged", action="append", default=[], metavar="METHOD",
                    help="a method implementation run as warm-up -> continue (repeat; default: biased)")
    sp.add_argument("records", nargs="*", help="warm-up records.pt files (none: only the methods figure)")
    sp = add("figures-readme", cmd_figures_readme, "figures/README.md: one line per figure from its caption")
    sp.add_argument("--out", required=True, help="the README file")
    sp.add_argument("entries", nargs="+", metavar="STEM=CAPTION", help="a figure and its .rst caption (may be empty)")
    return p


def _prog() -> str:
    """`sample-importance` as an installed script, `python -m sample_importance` otherwise."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return "python -m sample_importance" if name in ("", "__main__.py", "-c") or name.endswith(".py") else name


def main(argv=None) -> None:
    args = build_parser(_prog()).parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .atomic import DiskFullError
    from .config import ConfigError

    expected = [ConfigError, DiskFullError]
    if args.command in TRAINING:
        from .data.datasets import DataError
        from .training.engine import DivergenceError

        expected += [DataError, DivergenceError]
    if args.command == "aggregate":
        from .analysis.aggregate import RunCheckError  # names every run folder that is not a finished run

        expected.append(RunCheckError)
    try:
        args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:  # `... | head`: the reader left; stop as quietly as a shell tool killed by SIGPIPE
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
    except tuple(expected) as e:  # a known failure: its message says what and how to fix, no traceback needed
        sys.exit(f"error: {e}")
    if args.command in STEPS:
        # Every output is written and closed (atomically) by now; skipping the interpreter's
        # teardown of torch saves about a second per job, which adds up over a grid.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
