"""benchmarks/gpu_check.sh: the one command for a GPU machine is complete and bounded (read, not run:
CI runs its dry mode, `.ci/run`), and benchmarks/fetch_wheels.sh brings what it installs offline."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_check.sh"
WHEELS = REPO / "benchmarks" / "fetch_wheels.sh"


def steps(text: str, mode: str) -> dict[str, int]:
    """{step: bound in seconds} the script runs in `mode` ("dry" or "cuda")."""
    dry, cuda = text.split("if ((DRY)); then\n    step cuda_tests", 1)[1].split("\nelse\n", 1)
    cuda = cuda.split("\nfi\n", 1)[0]
    common = text.replace(dry, "").replace(cuda, "")
    chosen = ("step cuda_tests" + dry) if mode == "dry" else cuda
    found = dict(re.findall(r"^\s*step (\w+) (\d+) ", common, re.M))
    found.update(re.findall(r"^\s*step (\w+) (\d+) ", chosen, re.M))
    return {k: int(v) for k, v in found.items()}


def test_script_parses_and_runs_every_step_in_both_modes():
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0
    text = SCRIPT.read_text()
    wanted = {"env", "deps", "cuda_tests", "gpu_epoch", "loop", "concurrent", "estimate", "slice"}
    for mode in ("dry", "cuda"):
        assert set(steps(text, mode)) == wanted, mode
    assert "--concurrency 1 2 4 8" in text and "estimate config/paper.yaml --device cuda" in text
    assert "--model resnet18 --batch-size 128" in text  # the epoch the issue asks for


def test_every_step_is_bounded_and_the_whole_fits_in_ten_minutes():
    text = SCRIPT.read_text()
    total = int(re.search(r"TOTAL_S=\$\{GPU_CHECK_TOTAL_S:-(\d+)\}", text).group(1))
    assert total < 600
    assert 'timeout -k 10 "$bound"' in text  # each step under `timeout`, capped by the time left
    assert "((bound > left)) && bound=$left" in text
    # the deps step runs only where something is missing: the rest fits the bound even when it runs
    cuda = steps(text, "cuda")
    assert sum(cuda.values()) - cuda["deps"] + 10 <= total + 120  # bounds are caps; the total is enforced


def test_dependencies_come_from_the_wheel_folder_without_a_network():
    text = SCRIPT.read_text()
    assert "pip install -q --no-index --find-links .whl" in text
    assert "--system-site-packages" in text  # the machine's own torch, not a downloaded one
    assert "/.whl/" in (REPO / ".gitignore").read_text().splitlines()
    wheels = WHEELS.read_text()
    assert subprocess.run(["bash", "-n", str(WHEELS)]).returncode == 0
    assert "pip wheel" in wheels.replace("$PIP wheel", "pip wheel") and "connection_pool" in wheels
    assert "--only-binary=:all:" in wheels and '--python-version "$PYVER"' in wheels and "PYVER=3.12" in wheels
    assert re.search(r"grep -v -E '\^\(#\|torch\|torchvision", wheels)  # torch stays the GPU machine's


def test_the_report_and_the_slice_stay_in_ignored_folders():
    text = SCRIPT.read_text()
    ignored = (REPO / ".gitignore").read_text().splitlines()
    assert "WORK=results/gpu-check" in text and "/results/" in ignored
    assert "cp \"$ARCHIVE\" data/cifar10-jpeg.tar.gz" in text and "/data/" in ignored
    assert ".gpu-venv" in text and "/.gpu-venv/" in ignored
