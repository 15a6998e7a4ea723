"""The pipeline's steps as functions: prepare data, train, warm-up, score, continue, score checkpoints.

Each reads its inputs from files and writes its outputs atomically; the command
line (`python -m sample_importance <step>`) and the Snakemake rules are thin
wrappers around these. A run's folder holds:

    metrics.csv      one row per evaluation: iteration, examples, lr, losses, test accuracy, wall seconds
    per_class.csv    per-class test accuracy at the end, with train/test counts
    class_draws.csv  per epoch and class, how many examples were drawn
    run.json         the resolved run spec, seed, versions, device, git commit, times, final numbers,
                     and under "tables" what each table holds (rows, sha256; for metrics.csv its last
                     iteration and final test accuracy), which analysis/aggregate.py checks before use

run.json is written last and is the run's completion marker (the file Snakemake and aggregate
trust); a step that fails part-way (a full disk) removes what it had written, so a folder holds
either a complete run or no table at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from .data import datasets as data_mod
from .atomic import torch_save, write_bytes, write_csv, write_json
from .training.engine import Trainer
from .methods import method_class
from .outputs import RUN_IMPORTANCE_FILES
from .provenance import device_info, run_hash, git_state, now, seal, versions

log = logging.getLogger(__name__)

RESUME_FILE = "resume.pt"


def prepare_data(name: str, spec: dict, out: str) -> None:
    ds = data_mod.build(name, spec)
    data_mod.save(ds, out)
    log.info("prepared %s -> %s", data_mod.describe(ds), out)


def _resume_callback(out_dir: Path, spec: dict):
    """Save a resumable checkpoint every `checkpoint_every` epochs (0: never)."""
    every = int(spec["train"].get("checkpoint_every", 0))
    if not every:
        return None
    digest = run_hash(spec)

    def save(trainer: Trainer) -> None:
        if trainer.epoch % every == 0 and not trainer.finished:
            torch_save(out_dir / RESUME_FILE, {"spec_hash": digest, "state": trainer.state_dict()})
            log.info("checkpoint at epoch %d (iteration %d)", trainer.epoch, trainer.step)

    return save


def _try_resume(trainer: Trainer, out_dir: Path, spec: dict) -> bool:
    path = out_dir / RESUME_FILE
    if not path.exists():
        return False
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - an unreadable checkpoint only costs a fresh start
        log.warning("ignoring unreadable checkpoint %s (%s); starting from scratch", path, e)
        return False
    if saved.get("spec_hash") != run_hash(spec):
        log.warning("ignoring %s: it belongs to another configuration", path)
        return False
    trainer.load_state_dict(saved["state"])
    log.info("resumed from %s at epoch %d (iteration %d)", path, trainer.epoch, trainer.step)
    return True


def _run_json(spec: dict, trainer: Trainer, started: str, extra: dict | None = None) -> dict:
    last = trainer.metrics[-1]
    return {
        "spec": spec,
        "run_id": spec.get("run_id"),
        "label": spec.get("label"),
        "seed": spec["seed"],
        "config_hash": run_hash(spec),
        "git": git_state(),
        "versions": versions(),
        "device": device_info(trainer.device),
        "started": started,
        "finished": now(),
        "iterations": trainer.step,
        "total_steps": trainer.total_steps,
        "full_iterations": trainer.full_iterations,
        "n_train": trainer.n_train,
        "final_test_accuracy": last["test_accuracy"],
        "train_seconds": trainer.train_seconds,
        **(extra or {}),
    }


@contextlib.contextmanager
def _all_or_nothing(out_dir: Path, names: list[str]):
    """On any failure while writing `names` (the completion marker last), remove those already written.

    The completion marker of a previous attempt is removed first: it must not vouch for tables
    that this attempt is about to replace.
    """
    (out_dir / names[-1]).unlink(missing_ok=True)
    try:
        yield
    except BaseException:
        for name in names:
            (out_dir / name).unlink(missing_ok=True)
        raise


# files of a run folder that aggregate reads besides the run's own tables (written by score steps);
IMPORTANCE_TABLES = RUN_IMPORTANCE_FILES  # recorded in run.json when present; aggregate reads the same list


def _file_record(path: Path) -> dict:
    """rows (CSV) and sha256 of a file another step wrote, as write_csv returns for the run's own tables."""
    data = path.read_bytes()
    record = {"sha256": hashlib.sha256(data).hexdigest()}
    if path.suffix == ".csv":
        import pandas as pd

        record["rows"] = int(len(pd.read_csv(io.BytesIO(data))))
    return record


def _write_run(out_dir: Path, spec: dict, trainer: Trainer, started: str, extra: dict | None = None) -> None:
    """Write the run's tables, then run.json last, recording what each table holds."""
    import pandas as pd  # lazy: warm-up and prepare-data jobs never pay its import (~0.2-0.4 s)

    metrics = pd.DataFrame(trainer.metrics)
    tables = {"metrics.csv": metrics, "per_class.csv": pd.DataFrame(trainer.per_class_table()),
              "class_draws.csv": pd.DataFrame(trainer.class_draws)}
    with _all_or_nothing(out_dir, [*tables, "run.json"]):
        record = {name: write_csv(out_dir / name, frame) for name, frame in tables.items()}
        record["metrics.csv"].update(last_iteration=int(metrics["iteration"].iloc[-1]),
                                     final_test_accuracy=float(metrics["test_accuracy"].iloc[-1]))
        record.update({name: _file_record(out_dir / name) for name in IMPORTANCE_TABLES if (out_dir / name).exists()})
        write_json(out_dir / "run.json", seal({**_run_json(spec, trainer, started, extra), "tables": record}))
    (out_dir / RESUME_FILE).unlink(missing_ok=True)


def train(spec: dict, data_path: str, out_dir: str, progress: bool = True, importance_dir: str | None = None) -> Trainer:
    """One run from start to end of its budget (any method, staged ones included, in one process).

    `importance_dir`: a static-pruning method's score folder (score_checkpoints); its run starts
    from a fresh model on the kept subset. Without it such a method scores in this process.
    """
    out = Path(out_dir)
    started = now()
    trainer = Trainer(spec, data_mod.load(data_path), progress=progress)
    extra = None
    if importance_dir is not None:
        folder = Path(importance_dir)
        trainer.method.set_weights(np.load(folder / "weights.npy"), np.load(folder / "scores.npy"))
        info = json.loads((folder / "score.json").read_text())
        extra = {"importance_dir": str(importance_dir), "scoring": info["scoring"]}  # reported, not charged
    _try_resume(trainer, out, spec)
    trainer.run(on_epoch_end=_resume_callback(out, spec))
    _write_run(out, spec, trainer, started, extra)
    return trainer


def warmup(spec: dict, data_path: str, out_dir: str, progress: bool = True) -> Trainer:
    """The first `warmup_epochs` epochs of a staged method (uniform SGD): checkpoint and recorded statistics.

    `spec` is a warm-up spec (method uniform, `warmup_epochs` set); its state is
    exactly that of any staged method after its warm-up, since their warm-up
    draws the same random permutations from the same generator.
    """
    out = Path(out_dir)
    started = now()
    trainer = Trainer(spec, data_mod.load(data_path), progress=progress)
    epochs = int(spec["warmup_epochs"])
    _try_resume(trainer, out, spec)
    trainer.run(until_epoch=epochs, on_epoch_end=_resume_callback(out, spec))
    state = trainer.state_dict()
    with _all_or_nothing(out, ["records.pt", "checkpoint.pt", "run.json"]):
        torch_save(out / "records.pt", {"records": state["records"], "labels": trainer.labels.cpu(),
                                        "source_index": trainer.data.train_source_index, "classes": trainer.data.classes,
                                        "spec": spec})
        torch_save(out / "checkpoint.pt", {"spec_hash": run_hash(spec), "state": state})
        write_json(out / "run.json", seal(_run_json(spec, trainer, started, {"warmup_epochs": epochs})))
    (out / RESUME_FILE).unlink(missing_ok=True)
    return trainer


def score(spec: dict, records_path: str, out_dir: str) -> np.ndarray:
    """Weights of a staged method from warm-up records (possibly another model's: importance_from)."""
    out = Path(out_dir)
    start = time.perf_counter()
    saved = torch.load(records_path, map_location="cpu", weights_only=True)
    records = {k: v.double().numpy() for k, v in saved["records"].items()}
    labels = saved["labels"].numpy()
    method = method_class(spec["method"])(spec.get("method_params", {}), trainer=None)
    epochs = method.warmup_epochs
    weights = method.score({k: v[:epochs] for k, v in records.items()}, labels)
    seconds = time.perf_counter() - start
    scores = method.scores
    from .methods.importance import class_table

    classes = list(saved.get("classes") or [str(c) for c in range(int(labels.max()) + 1)])
    with _all_or_nothing(out, ["weights.npy", "scores.npy", "classes.csv", "score.json"]):
        _save_npy(out / "weights.npy", weights)
        _save_npy(out / "scores.npy", scores if scores is not None else weights)
        write_csv(out / "classes.csv", class_table(weights, labels, classes, scores))
        write_json(out / "score.json", seal({"seconds": seconds, "records": str(records_path), "warmup_epochs": epochs,
                                            "method_params": method.params, "config_hash": run_hash(spec),
                                            "git": git_state(), "finished": now()}))
    return weights


def score_checkpoints(spec: dict, data_path: str, warmup_dirs: list[str], out_dir: str) -> np.ndarray:
    """A static-pruning run's subset: the mean of each scoring checkpoint's scores, then the method's selection.

    Writes weights.npy (1/k on the kept), kept.npy (their indices), scores.npy (the mean),
    checkpoint_scores.npy (one row per checkpoint), classes.csv and score.json with the
    scoring compute: the warm-ups' steps and seconds plus one forward pass over the
    training set per checkpoint (charged at 1/3 of a training example, as base.py).
    """
    out = Path(out_dir)
    start = time.perf_counter()
    cls = method_class(spec["method"])
    method = cls(spec.get("method_params", {}), trainer=None)
    epochs = int(method.params["warmup_epochs"])
    data = data_mod.load(data_path)
    rows, counters = [], []
    for folder in warmup_dirs:
        saved = torch.load(Path(folder) / "checkpoint.pt", map_location="cpu", weights_only=True)["state"]
        seed = int(json.loads((Path(folder) / "run.json").read_text())["seed"])
        scorer = Trainer(cls.scoring_spec(spec, seed), data, progress=False)
        scorer.model.load_state_dict(saved["model"])
        if saved["counters"]["epoch"] != epochs:
            raise ValueError(f"{folder}: checkpoint at epoch {saved['counters']['epoch']}, the run scores at epoch {epochs}")
        rows.append(cls.checkpoint_scores(scorer))
        counters.append(saved["counters"])
    weights = method.select(np.mean(rows, axis=0))
    seconds = time.perf_counter() - start
    n, batch = len(weights), int(spec["train"]["batch_size"])
    steps = sum(int(c["step"]) for c in counters)
    scoring = {"trainings": len(rows), "epochs": epochs, "steps": steps, "forward_examples": n * len(rows),
               "charged_iterations": round(sum(float(c["charged"]) for c in counters) + n * len(rows) / (3.0 * batch), 6),
               "seconds": sum(float(c["train_seconds"]) for c in counters) + seconds}
    from .methods.importance import class_table

    labels = data.train.y.numpy()
    with _all_or_nothing(out, ["weights.npy", "kept.npy", "scores.npy", "checkpoint_scores.npy", "classes.csv",
                               "score.json"]):
        _save_npy(out / "weights.npy", weights)
        _save_npy(out / "kept.npy", np.flatnonzero(weights > 0))
        _save_npy(out / "scores.npy", method.scores)
        _save_npy(out / "checkpoint_scores.npy", np.stack(rows))
        write_csv(out / "classes.csv", class_table(weights, labels, list(data.classes), method.scores))
        write_json(out / "score.json", seal({"seconds": seconds, "warmups": [str(w) for w in warmup_dirs],
                                            "warmup_epochs": epochs, "kept": int((weights > 0).sum()), "n_train": n,
                                            "scoring": scoring, "method_params": method.params,
                                            "config_hash": run_hash(spec), "git": git_state(), "finished": now()}))
    return weights


def _save_npy(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array)
    write_bytes(path, buffer.getbuffer())


def continue_run(spec: dict, data_path: str, warmup_dir: str, importance_dir: str, out_dir: str, progress: bool = True) -> Trainer:
    """Resume the warm-up checkpoint and spend the rest of the budget drawing by the scored weights."""
    out = Path(out_dir)
    started = now()
    trainer = Trainer(spec, data_mod.load(data_path), progress=progress)
    if not _try_resume(trainer, out, spec):
        saved = torch.load(Path(warmup_dir) / "checkpoint.pt", map_location="cpu", weights_only=True)
        trainer.load_state_dict(saved["state"])
        trainer.method.set_weights(np.load(Path(importance_dir) / "weights.npy"), np.load(Path(importance_dir) / "scores.npy"))
        score_info = json.loads((Path(importance_dir) / "score.json").read_text())
        trainer.train_seconds += float(score_info["seconds"])  # wall-clock speedup includes scoring
    trainer.run(on_epoch_end=_resume_callback(out, spec))
    _write_run(out, spec, trainer, started, {"warmup_dir": str(warmup_dir), "importance_dir": str(importance_dir)})
    return trainer
