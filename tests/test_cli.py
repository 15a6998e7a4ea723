"""The command line a user expects, and the rules' shell commands that call it.

- check-config / runs / spec take several config files, merged in order as `--configfile A B`;
- `spec` prints any run's spec; `train --spec @file` on it makes the run the grid names (same hash);
- every sub-command and option has a help line; --version; `methods | head` ends quietly;
- a step ends with one log line saying what it did (score) or what it got (a run's final accuracy);
- every file or folder in a rule's command is quoted (`:q`); a rule's command, started as Snakemake
  starts it (`bash -c PREFIX COMMAND`) and killed through the shell's PID, leaves no trainer behind
  (`exec`) and no run.json.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
import yaml

from sample_importance import cli
from sample_importance.config import validate
from sample_importance.grid import expand

from conftest import REPO, cli_env


def write_yaml(path: Path, obj: dict) -> Path:
    path.write_text(yaml.safe_dump(obj))
    return path


def main_out(capsys, *args) -> str:
    """stdout of `python -m sample_importance ARGS` run in this process (commands that do not train)."""
    cli.main([str(a) for a in args])
    return capsys.readouterr().out


# ----------------------------------------------------------------------------- parser, help, version


def test_every_command_and_option_has_a_help_line():
    parser = cli.build_parser()
    [sub] = [a for a in parser._actions if a.dest == "command"]
    helps = {c.dest: c.help for c in sub._choices_actions}
    assert set(helps) == set(sub.choices) and all(helps.values()), helps
    for name, sp in [("", parser), *sub.choices.items()]:
        missing = [a.dest for a in sp._actions if a.dest != "help" and not a.help]
        assert not missing, f"{name or 'main'}: {missing}"
    # the analysis steps are sub-commands of the one command line (the rules call them)
    assert {"importance-tables", "importance-plots", "figures-readme", "claims", "aggregate", "spec"} <= set(sub.choices)
    a = parser.parse_args(["aggregate", "--target-fraction", "0.9", "--out", "s", "r1", "r2"])
    assert (a.target_fraction, a.out, a.runs) == (0.9, "s", ["r1", "r2"])
    a = parser.parse_args(["spec", "a.yaml", "b.yaml", "runs/x"])
    assert (a.config, a.run) == (["a.yaml", "b.yaml"], "runs/x")


def test_version_and_the_installed_script_entry_point():
    """pyproject's [project.scripts] entry resolves to cli.main, which names itself as the script does."""
    from importlib import metadata

    entry = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]["sample-importance"]
    module, func = entry.split(":")
    code = (f"import sys; sys.argv = ['/usr/local/bin/sample-importance', '--version']; "
            f"from {module} import {func}; sys.exit({func}())")
    done = subprocess.run([sys.executable, "-c", code], env=cli_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(rf"sample-importance {re.escape(metadata.version('sample-importance'))}( \(git [0-9a-f]+\))?\n",
                        done.stdout), done.stdout


def test_methods_piped_into_head_ends_quietly_and_points_to_the_docs(capsys):
    done = subprocess.run(["bash", "-c", f"{sys.executable} -m sample_importance methods | head -3"], cwd=REPO,
                          env=cli_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 3
    assert done.stderr == ""  # no BrokenPipeError traceback
    assert main_out(capsys, "methods").rstrip().splitlines()[-1] == cli.METHODS_DOC
    assert (REPO / "docs" / "methods.md").exists()


# ----------------------------------------------------------------------------- configs and specs


def test_check_config_and_runs_merge_files_in_order(tiny_config, tmp_path, capsys):
    base = write_yaml(tmp_path / "base.yaml", tiny_config())
    extra = write_yaml(tmp_path / "extra.yaml", {"seeds": [0, 1, 2], "budgets": [0.5, 1.0], "train": {"epochs": 4}})
    # 2 methods x 3 seeds x 2 budgets; one warm-up per seed and budget (biased)
    assert main_out(capsys, "check-config", base, extra) == f"{base} + {extra}: valid; 12 runs, 6 warm-ups\n"
    runs = main_out(capsys, "runs", base, extra).splitlines()
    assert len(runs) == 12 and sum("-s2-" in r for r in runs) == 4 and sum("/b0.5-" in r for r in runs) == 6
    # nested sections merge key by key: extra's epochs, base's width (not the schema default)
    spec = json.loads(main_out(capsys, "spec", base, extra, runs[0]))
    assert (spec["train"]["epochs"], spec["train"]["width"]) == (4, 8)
    # later files win: the other order gives the base's single seed and budget
    assert main_out(capsys, "check-config", extra, base).endswith(": valid; 2 runs, 1 warm-ups\n")


def test_spec_names_runs_by_folder_id_or_part_and_refuses_ambiguity(tiny_config):
    grid = expand(validate(tiny_config()))
    [biased] = [i for i, s in grid.runs.items() if s["label"] == "biased"]
    [warm] = list(grid.warmups)
    for text in (biased, grid.run_dir(biased), grid.run_dir(biased) + "/", grid.run_dir(biased) + "/run.json",
                 f"runs/biased/{biased}", "biased/"):
        assert cli.find_run(grid, text) == ("run", biased), text
    assert cli.find_run(grid, grid.warmup_dir(warm)) == ("warm-up", warm)
    from sample_importance.config import ConfigError

    with pytest.raises(ConfigError, match=r"names 3 runs"):
        cli.find_run(grid, "digits/cnn")
    with pytest.raises(ConfigError, match=r"not a run or warm-up of this config.*`runs CONFIG`"):
        cli.find_run(grid, "resnet")


@pytest.fixture(scope="module")
def digits_file(tmp_path_factory):
    from sample_importance import steps

    path = tmp_path_factory.mktemp("data") / "digits.pt"
    steps.prepare_data("digits", {"source": "digits"}, str(path))
    return path


def test_a_spec_printed_then_trained_by_hand_is_the_run_the_grid_names(tiny_config, tmp_path, digits_file, run_cli):
    """spec -> spec.json -> train --spec @spec.json: its run.json carries the hash that ends the run folder's name."""
    config = write_yaml(tmp_path / "c.yaml", tiny_config())
    folder = next(r for r in run_cli("runs", config).stdout.splitlines() if "/uniform/" in r)
    printed = run_cli("spec", config, folder)
    assert printed.returncode == 0, printed.stderr
    assert "train --spec @spec.json --data " in printed.stderr and f"--out {folder}" in printed.stderr
    (tmp_path / "spec.json").write_text(printed.stdout)
    out = tmp_path / "by hand"
    done = run_cli("train", "--spec", f"@{tmp_path / 'spec.json'}", "--data", digits_file, "--out", out,
                   "--no-progress", timeout=300)
    assert done.returncode == 0, done.stderr
    info = json.loads((out / "run.json").read_text())
    assert folder.endswith(info["run_id"]) and folder.endswith(f"-{info['config_hash']}")
    # the run ends with one line: its final test accuracy and where its outputs are
    last = done.stderr.strip().splitlines()[-1]
    match = re.search(r"INFO sample_importance: run done: final test accuracy ([0-9.]+) after (\d+) of (\d+) "
                      r"iterations; outputs in (.+)$", last)
    assert match, last
    assert float(match.group(1)) == pytest.approx(info["final_test_accuracy"], abs=5e-5)
    assert int(match.group(2)) == info["iterations"] == int(match.group(3)) and match.group(4) == str(out)


def test_score_logs_records_metric_smoothing_samples_and_flatness(tiny_config, tmp_path, digits_file, run_cli):
    from sample_importance import steps
    from sample_importance.methods.importance import sampling_flatness

    grid = expand(validate(tiny_config()))
    [spec] = [s for s in grid.runs.values() if s["label"] == "biased"]
    warm = tmp_path / "warmup"
    steps.warmup(grid.warmups[spec["warmup_id"]], str(digits_file), str(warm), progress=False)
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    done = run_cli("score", "--spec", f"@{tmp_path / 'spec.json'}", "--records", warm / "records.pt",
                   "--out", tmp_path / "importance")
    assert done.returncode == 0, done.stderr
    weights = np.load(tmp_path / "importance" / "weights.npy")
    flat = sampling_flatness(weights)
    line = done.stderr.strip().splitlines()[-1]
    assert f"scored {len(weights)} samples from {warm / 'records.pt'} (warm-up epochs 1-1): metric one_minus_p, " \
           f"smoothing 0.001; sampling max/min {flat['max_min_ratio']:.3g}, effective sample size " \
           f"{flat['ess_fraction']:.2f} N" in line, line
    assert 0.2 < flat["ess_fraction"] < 1.0  # biased, yet every sample keeps a chance (smoothing)


def test_figures_readme_subcommand_writes_one_line_per_figure(tmp_path, capsys):
    caption = tmp_path / "speedup.rst"
    caption.write_text("How much sooner each method\nreaches the target.\n\nDetails.\n")
    out = tmp_path / "README.md"
    main_out(capsys, "figures-readme", "--out", out, f"speedup={caption}", "other=")
    lines = out.read_text().splitlines()
    assert "- `speedup` (png, pdf): How much sooner each method reaches the target." in lines
    assert "- `other` (png, pdf): (no caption)" in lines


# ----------------------------------------------------------------------------- rules' shell commands


def rule_commands(workdir: Path, target: str) -> dict[str, str]:
    """rule -> the shell command Snakemake would run for `target` (a dry run, -p)."""
    done = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
                           "--cores", "1", "-n", "-p", target], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rules = re.findall(r"^rule (\w+):", done.stdout, flags=re.M)
    commands = re.findall(r"^Shell command: (.+)$", done.stdout, flags=re.M)
    assert len(rules) == len(commands), done.stdout
    return dict(zip(rules, commands))


def as_snakemake_runs(command: str, log: Path) -> list[str]:
    """The job's process: bash -c with common.smk's prefix, as snakemake.shell starts it."""
    log.parent.mkdir(parents=True, exist_ok=True)  # Snakemake makes log folders before the job starts
    prefix = (f"set -euo pipefail; export PYTHONPATH='{REPO / 'src'}'; "
              f"export PATH='{Path(sys.executable).parent}':$PATH; ")
    return ["bash", "-c", prefix + command]


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"the job ended (rc {process.returncode}) before {path} appeared"
        assert time.monotonic() < end, f"{path} did not appear within {timeout} s"
        time.sleep(0.02)


def gone(text: str, timeout: float = 10) -> bool:
    end = time.monotonic() + timeout
    while processes_mentioning(text) and time.monotonic() < end:
        time.sleep(0.05)
    return not processes_mentioning(text)


# params that the rules quote themselves (shlex.quote per item) or that are numbers
QUOTED_PARAMS = {"spec", "runs", "warmups", "data", "staged", "scoring", "entries", "target", "inference", "sources", "shots"}


def test_every_path_in_a_rule_command_is_quoted():
    """The config schema keeps results paths to [A-Za-z0-9._/-] today; `:q` keeps a command whole if that loosens."""
    seen = 0
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for block in re.findall(r"^\s+shell:\n((?:\s+\".*\"\n)+)", smk.read_text(), flags=re.M):
            command = "".join(re.findall(r'"(.*)"', block))
            assert command.startswith("exec python -m sample_importance "), (smk.name, command)
            for field in re.findall(r"\{([^{}]+)\}", command):
                seen += 1
                name = field.split(":")[0]
                ok = field.endswith(":q") or name == "threads" or name.removeprefix("params.") in QUOTED_PARAMS
                assert ok, f"{smk.name}: {{{field}}} in {command!r}"
    assert seen > 40


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_rule_takes_its_trainer_with_it(tiny_config, tmp_path):
    config = tiny_config()
    config["methods"] = {"uniform": {"method": "uniform"}}
    config["train"].update(epochs=20, checkpoint_every=1)  # long enough to be killed between checkpoints
    write_yaml(tmp_path / "config.yaml", config)
    [run_id] = expand(validate(config)).runs
    run_dir = Path(expand(validate(config)).run_dir(run_id))
    commands = rule_commands(tmp_path, str(run_dir / "run.json"))
    assert set(commands) == {"prepare_data", "train"}
    assert all(c.startswith("exec python -m sample_importance ") for c in commands.values()), commands
    logs = tmp_path / "results" / "logs"

    prepared = subprocess.run(as_snakemake_runs(commands["prepare_data"], logs / "prepare_data" / "x.log"),
                              capture_output=True, text=True, timeout=120)
    assert prepared.returncode == 0, prepared.stderr
    assert list((tmp_path / "results" / "data").glob("digits-*.pt"))

    job = subprocess.Popen(as_snakemake_runs(commands["train"], logs / "train" / "uniform" / f"{run_id}.log"),
                           start_new_session=True)
    try:
        wait_for(run_dir / "resume.pt", job)  # the trainer is past its first epoch
        os.kill(job.pid, signal.SIGTERM)  # the job's shell, as Snakemake or scancel signal it
        job.wait(timeout=30)
        assert job.returncode == -signal.SIGTERM
        assert gone(str(run_dir)), "the trainer outlived its job"
        time.sleep(0.5)
        assert not (run_dir / "run.json").exists() and not (run_dir / "metrics.csv").exists()
    finally:
        for pid in processes_mentioning(str(run_dir)):
            os.kill(pid, signal.SIGKILL)

    # control: the same command without `exec` leaves the trainer running after its shell is killed
    plain = commands["train"].removeprefix("exec ")
    (run_dir / "resume.pt").unlink()  # a fresh start: resume.pt appears once the trainer runs
    job = subprocess.Popen(as_snakemake_runs(plain, logs / "plain.log"), start_new_session=True)
    try:
        wait_for(run_dir / "resume.pt", job)
        time.sleep(0.1)
        os.kill(job.pid, signal.SIGTERM)
        job.wait(timeout=30)
        assert processes_mentioning(str(run_dir)), "control: without exec the trainer should be orphaned"
    finally:
        for pid in processes_mentioning(str(run_dir)):
            os.kill(pid, signal.SIGKILL)
