"""Loop efficiency: examples/s of the engine's full training loop ÷ examples/s of a bare loop.

Full loop: `Trainer.run` over one epoch of method `uniform` with the standard
crop + flip augmentation: sampling, gathering the batch by index, augmentation,
normalisation, learning-rate setting, forward, backward, SGD step, per-sample
statistics into the records, the method's observe, counters. Evaluation is
excluded (eval_every huge; the one evaluation at the start of a run happens in
an untimed first epoch).

Bare loop: forward + cross-entropy + backward + SGD step on one pre-made,
normalised batch, using the same model, optimizer, precision and memory format
(the trainer's own objects), the same number of steps as an epoch.

Both are timed in one process, alternating (full, bare, bare, full, ...),
`--repeats` times each; the ratio is of the medians. On a CPU the ratio is
printed for wall time and for the process's CPU time (with one thread the
latter is the work done, and stays steady when other jobs share the cores).
Target: >= 0.90 on CPU for the small CNN (widths 16 and 32), and on GPU for
ResNet-18.

    .venv/bin/python benchmarks/loop_efficiency.py                  # CPU: small CNN, widths 16 and 32
    .venv/bin/python benchmarks/loop_efficiency.py --model resnet18 --device cuda
    .venv/bin/python benchmarks/loop_efficiency.py --profile        # where the full loop's time goes
"""

from __future__ import annotations

import argparse

import torch

from common import Stopwatch, machine_line, median, run_spec, sgd_step, synthetic_cifar


def bare_steps(trainer, x: torch.Tensor, y: torch.Tensor, steps: int) -> None:
    """Forward + backward + optimizer step on pre-made tensors: the floor the engine is compared with."""
    for _ in range(steps):
        sgd_step(trainer.forward, trainer.optimizer, trainer.autocast, x, y)


def make_trainer(args, width: int):
    from sample_importance.training.engine import Trainer

    n_train = args.batch_size * args.steps
    spec = run_spec(args.model, width, args.batch_size, device=args.device, threads=args.threads,
                    augmentation=args.augmentation, precision=args.precision, compile=args.compile)
    trainer = Trainer(spec, synthetic_cifar(n_train), progress=False)
    trainer.run(until_epoch=1)  # untimed: the first evaluation, allocator and kernel warm-up
    return trainer


def measure(args, width: int) -> dict:
    trainer = make_trainer(args, width)
    idx = torch.arange(args.batch_size, device=trainer.device)
    x = trainer.normalize(trainer.train_images(idx))
    y = trainer.labels[idx]
    bare_steps(trainer, x, y, 3)
    full, bare = Stopwatch(trainer.device), Stopwatch(trainer.device)
    for r in range(args.repeats):
        for which in (("full", "bare") if r % 2 == 0 else ("bare", "full")):
            if which == "full":
                before = trainer.examples_backpropagated
                with full():
                    trainer.run(until_epoch=trainer.epoch + 1)
                assert trainer.examples_backpropagated - before == args.batch_size * args.steps
            else:
                with bare():
                    bare_steps(trainer, x, y, args.steps)
    examples = args.batch_size * args.steps
    result = {"width": width}
    for clock in ("wall", "cpu"):
        f, b = median(getattr(full, clock)), median(getattr(bare, clock))
        result[clock] = {"ratio": b / f, "full": examples / f, "bare": examples / b, "full_s": f, "bare_s": b}
    return result


def profile(args, width: int) -> None:
    """torch.profiler (operators, self CPU time) and cProfile (Python functions) over full-loop epochs."""
    import cProfile
    import pstats

    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    trainer = make_trainer(args, width)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if trainer.device.type == "cuda" else [])
    with torch_profile(activities=activities) as prof:
        trainer.run(until_epoch=trainer.epoch + 1)
    sort = "self_cuda_time_total" if trainer.device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=sort, row_limit=25))
    pr = cProfile.Profile()
    pr.enable()
    trainer.run(until_epoch=trainer.epoch + 2)
    pr.disable()
    pstats.Stats(pr).sort_stats("tottime").print_stats(25)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="cnn or resnet18 (default: resnet18 on cuda, cnn on cpu)")
    p.add_argument("--widths", type=int, nargs="+", default=[16, 32], help="small-CNN widths (ignored for resnet18)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=None, help="steps per timed epoch (default 8 on cpu, 100 on cuda)")
    p.add_argument("--repeats", type=int, default=9, help="timed epochs of each loop (median taken)")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads (default 1: what a pipeline job gets with resources.cpus_per_task 1)")
    p.add_argument("--augmentation", default="standard")
    p.add_argument("--precision", default="auto", help="auto (bf16 on cuda, fp32 on cpu), bf16 or fp32")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (cuda only)")
    p.add_argument("--profile", action="store_true", help="profile the full loop instead of timing it")
    args = p.parse_args(argv)
    cuda = torch.device(args.device).type == "cuda"
    args.model = args.model or ("resnet18" if cuda else "cnn")
    args.steps = args.steps or (100 if cuda else 8)
    widths = args.widths if args.model == "cnn" else [0]

    if args.profile:
        profile(args, widths[0])
        print(machine_line(args.device))
        return
    print(f"loop efficiency: {args.model}, batch {args.batch_size}, {args.steps} steps per epoch, synthetic uint8 "
          f"3x32x32, 10 classes, augmentation {args.augmentation}, {args.device}, median of {args.repeats}")
    clocks = ("wall", "cpu") if torch.device(args.device).type == "cpu" else ("wall",)
    for width in widths:
        r = measure(args, width)
        name = f"cnn width {width}" if args.model == "cnn" else args.model
        for clock in clocks:
            c = r[clock]
            print(f"{name:14s} {clock:4s} ratio {c['ratio']:.3f}  full loop {c['full']:8.0f} ex/s ({c['full_s']:.3f} s/epoch)"
                  f"  bare loop {c['bare']:8.0f} ex/s ({c['bare_s']:.3f} s/epoch)  target >= 0.90")
    print(machine_line(args.device))


if __name__ == "__main__":
    main()
