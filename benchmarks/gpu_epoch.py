"""One training epoch: the engine's on-device path vs a torchvision DataLoader with PIL transforms, same process.

Engine path (what every pipeline run uses): the uint8 training set resident on
the device, the batch gathered by index, crop + flip batched on the device,
bf16 autocast and channels_last on CUDA, optionally `torch.compile`
(`--compile`); method uniform, evaluation excluded.

DataLoader path (the way most research code does it): the same images as an
in-memory list of PIL images, `transforms.Compose([RandomCrop(32, padding=4),
RandomHorizontalFlip(), ToTensor(), Normalize(mean, std)])`, a shuffling
`DataLoader` with `--workers` worker processes (pinned memory on CUDA), a
fresh copy of the same model, SGD with the same settings. It is timed twice:
in fp32 with the default memory format (typical research code; convolutions
still use TF32 and cudnn.benchmark, both set in this process) and with the
engine's precision and memory format (isolating the input pipeline). On a CPU
both are fp32 and contiguous, so only one DataLoader row is printed.

Each path first runs one untimed epoch (worker start-up, cudnn autotuning,
compilation), then `--repeats` timed epochs, alternating between paths;
medians are reported. Goal on a GPU: the engine path >= 3x faster than the
fp32 DataLoader path.

FLOP per epoch: counted with torch.utils.flop_counter.FlopCounterMode on one
fp32 training step (forward + backward of convolutions and linear layers, 2 FLOP
per multiply-add, batch-norm/ReLU/pooling not counted), per image, times the
images in the epoch. For ResNet-18 with the CIFAR stem this gives about 3.3
GFLOP per image, 166 TFLOP per 50,000-image epoch (forward 0.56 GMAC, backward
about twice the forward). TFLOP/s = that count / measured epoch seconds.

    .venv/bin/python benchmarks/gpu_epoch.py                       # CUDA: ResNet-18, 50,000 images, batch 512
    .venv/bin/python benchmarks/gpu_epoch.py --compile             # also torch.compile the engine's model
    .venv/bin/python benchmarks/gpu_epoch.py --steps 8             # CPU (no GPU): small CNN, 8 steps of 128
    .venv/bin/python benchmarks/gpu_epoch.py --data results/data/cifar10.pt   # a cached dataset instead of synthetic
"""

from __future__ import annotations

import argparse
import copy

import torch

from common import Stopwatch, machine_line, median, run_spec, sgd_step, synthetic_cifar


def flops_per_image(model: torch.nn.Module, image_shape: tuple[int, int, int]) -> float:
    """Training FLOP (forward + backward) of one image, counted by FlopCounterMode on a CPU copy of the model."""
    from torch.utils.flop_counter import FlopCounterMode

    clone = copy.deepcopy(model).float().cpu().to(memory_format=torch.contiguous_format).train()
    x = torch.rand(2, *image_shape)
    counter = FlopCounterMode(display=False)
    with counter:
        clone(x).sum().backward()
    return counter.get_total_flops() / 2


class PILDataset(torch.utils.data.Dataset):
    """Images as PIL images in memory, transformed one by one (what torchvision's CIFAR10 dataset does)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform):
        from PIL import Image

        arrays = x.permute(0, 2, 3, 1).numpy()
        mode = "L" if x.shape[1] == 1 else "RGB"
        self.images = [Image.fromarray(a[..., 0] if mode == "L" else a, mode=mode) for a in arrays]
        self.targets = y.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), self.targets[i]


class LoaderPath:
    """A research-code style training epoch: DataLoader + PIL transforms feeding the same model."""

    def __init__(self, trainer, data, args, same_precision: bool):
        from torchvision import transforms

        size = data.image_shape[1]
        transform = transforms.Compose([
            transforms.RandomCrop(size, padding=max(1, round(size / 8))),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(data.mean.tolist(), data.std.tolist()),
        ])
        self.device = trainer.device
        cuda = self.device.type == "cuda"
        self.loader = torch.utils.data.DataLoader(
            PILDataset(data.train.x, data.train.y, transform), batch_size=args.batch_size, shuffle=True,
            num_workers=args.workers, pin_memory=cuda, persistent_workers=args.workers > 0, drop_last=False,
            generator=torch.Generator().manual_seed(0),
        )
        self.model = copy.deepcopy(trainer.model)  # same architecture, memory format and initial weights
        self.memory_format = trainer.memory_format if same_precision else torch.contiguous_format
        self.model = self.model.to(memory_format=self.memory_format)
        self.autocast = trainer.autocast if same_precision else (lambda: torch.autocast(self.device.type, enabled=False))
        cfg = trainer.cfg
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=float(cfg["lr"]), momentum=float(cfg["momentum"]),
                                         weight_decay=float(cfg["weight_decay"]))

    def epoch(self) -> int:
        n = 0
        for x, y in self.loader:
            x = x.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
            y = y.to(self.device, non_blocking=True)
            sgd_step(self.model, self.optimizer, self.autocast, x, y)
            n += len(y)
        return n


def load_data(args):
    if args.data:
        from sample_importance.data.datasets import load

        data = load(args.data)
        if args.steps:
            from sample_importance.data.datasets import Dataset, Split

            keep = args.steps * args.batch_size
            data = Dataset(data.name, data.classes, Split(data.train.x[:keep], data.train.y[:keep]), data.test,
                           data.train_source_index[:keep], data.mean, data.std, data.spec)
        return data
    n_train = args.steps * args.batch_size if args.steps else args.n_train
    return synthetic_cifar(n_train)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cuda_here = torch.cuda.is_available()
    p.add_argument("--device", default="cuda" if cuda_here else "cpu")
    p.add_argument("--model", default=None, help="resnet18 or cnn (default: resnet18 on cuda, cnn on cpu)")
    p.add_argument("--width", type=int, default=16, help="small-CNN width")
    p.add_argument("--batch-size", type=int, default=None, help="default 512 on cuda, 128 on cpu")
    p.add_argument("--n-train", type=int, default=50000, help="images per epoch (synthetic CIFAR-shaped data)")
    p.add_argument("--steps", type=int, default=None, help="make the epoch this many steps (for a quick CPU run)")
    p.add_argument("--data", default=None, help="a cached dataset (.pt from prepare-data) instead of synthetic data")
    p.add_argument("--workers", type=int, default=None, help="DataLoader workers (default 4 on cuda, 1 on cpu)")
    p.add_argument("--repeats", type=int, default=2, help="timed epochs per path (median taken)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: 1 on cpu, as a pipeline job with cpus_per_task 1; all cores on cuda)")
    p.add_argument("--compile", action="store_true", help="torch.compile the engine's model (cuda only)")
    args = p.parse_args(argv)
    cuda = torch.device(args.device).type == "cuda"
    args.model = args.model or ("resnet18" if cuda else "cnn")
    args.batch_size = args.batch_size or (512 if cuda else 128)
    args.workers = (4 if cuda else 1) if args.workers is None else args.workers
    args.threads = (0 if cuda else 1) if args.threads is None else args.threads

    from sample_importance.training.engine import Trainer

    data = load_data(args)
    spec = run_spec(args.model, args.width, args.batch_size, device=args.device, threads=args.threads,
                    compile=args.compile)
    trainer = Trainer(spec, data, progress=False)
    paths = {"engine (on-device)": None}
    paths["DataLoader+PIL fp32"] = LoaderPath(trainer, data, args, same_precision=False)
    if cuda:
        paths["DataLoader+PIL same precision"] = LoaderPath(trainer, data, args, same_precision=True)

    def epoch(name: str) -> int:
        if paths[name] is None:
            before = trainer.examples_backpropagated
            trainer.run(until_epoch=trainer.epoch + 1)
            return trainer.examples_backpropagated - before
        return paths[name].epoch()

    clocks = {name: Stopwatch(trainer.device) for name in paths}
    images = {name: epoch(name) for name in paths}  # untimed warm-up epoch of each path
    names = list(paths)
    for r in range(args.repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            with clocks[name]():
                epoch(name)

    per_image = flops_per_image(trainer.model, data.image_shape)
    n = len(data.train.y)
    tflop = per_image * n / 1e12
    print(f"epoch: {args.model}{f' width {args.width}' if args.model == 'cnn' else ''}, {n} images of "
          f"{'x'.join(map(str, data.image_shape))}, batch {args.batch_size}, {args.device}, engine precision "
          f"{'bf16 autocast, channels_last' if cuda else 'fp32'}{', torch.compile' if args.compile and cuda else ''}, "
          f"{args.workers} DataLoader workers, median of {args.repeats}")
    print(f"FLOP per epoch: {tflop:.3f} TFLOP ({per_image / 1e9:.3f} GFLOP per image, FlopCounterMode, forward + backward)")
    engine_s = median(clocks[names[0]].wall)
    for name in names:
        s = median(clocks[name].wall)
        assert images[name] == n
        ratio = "" if name == names[0] else f"  engine speed-up {s / engine_s:.2f}x (goal >= 3x on GPU)"
        print(f"{name:32s} {s:8.3f} s/epoch  {n / s:9.0f} img/s  {tflop / s:7.3f} TFLOP/s{ratio}")
    print(machine_line(args.device))


if __name__ == "__main__":
    main()
