"""Label noise on the training split: which samples get a wrong label, and which one.

A dataset variant like the imbalance (datasets.build applies it after subset and
imbalance, to the training split only, drawn from the data_seed's generator):

- symmetric: exactly round(rate * N) training samples, chosen uniformly without
  replacement, get a label drawn uniformly among the C - 1 *other* classes. This is
  the "flip" convention (the off-diagonal transition matrix T_ij = rate / (C - 1),
  T_ii = 1 - rate, of Patrini et al., CVPR 2017 and Han et al., NeurIPS 2018), so
  `rate` is exactly the share of wrong labels. RHO-LOSS's code (OATML/RHO-Loss,
  src/datamodules/datamodules.py `_corrupt_dataset`) instead resamples the chosen
  labels among all C classes, so only rate * (C - 1) / C of them end up wrong.
- asymmetric: class c flips to `pair_map(classes)[c]`, in each source class exactly
  round(rate * n_c) of its samples (Patrini et al.'s T_{c, map(c)} = rate). Maps:
  CIFAR-10 (recognised by its class names) truck -> automobile, bird -> airplane,
  deer -> horse, cat <-> dog (Patrini et al. 2017, sec. 5); digits/MNIST (classes
  named 0..9) 2 -> 7, 3 -> 8, 5 <-> 6, 7 -> 1 (same paper); any other set the
  circular map c -> (c + 1) mod C, so every class is a source and the
  number of wrong labels is close to round(rate * N) as in the symmetric case.

The cached dataset keeps the mask of noisy samples and their original labels,
so the analysis can tell which draws fell on a wrong label.
"""

from __future__ import annotations

import torch

KINDS = ("none", "symmetric", "asymmetric")

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_PAIRS = {"truck": "automobile", "bird": "airplane", "deer": "horse", "cat": "dog", "dog": "cat"}
DIGIT_CLASSES = tuple(str(d) for d in range(10))
MNIST_PAIRS = {"2": "7", "3": "8", "5": "6", "6": "5", "7": "1"}


def pair_map(classes: list[str]) -> dict[int, int]:
    """Source class index -> target class index of the asymmetric noise (module docstring)."""
    names = tuple(classes)
    pairs = {tuple(CIFAR10_CLASSES): CIFAR10_PAIRS, DIGIT_CLASSES: MNIST_PAIRS}.get(names)
    if pairs is None:
        return {c: (c + 1) % len(names) for c in range(len(names))}
    index = {name: i for i, name in enumerate(names)}
    return {index[a]: index[b] for a, b in pairs.items()}


def noisy_counts(counts: list[int], classes: list[str], kind: str, rate: float) -> int:
    """How many training labels the noise changes, given the samples per class (no tensors needed)."""
    if kind == "none" or rate == 0:
        return 0
    if kind == "symmetric":
        return round(rate * sum(counts))
    if kind == "asymmetric":
        return sum(round(rate * counts[c]) for c in pair_map(classes))
    raise ValueError(f"unknown label_noise kind {kind!r}; valid: {', '.join(KINDS)}")


def _symmetric(y: torch.Tensor, rate: float, n_classes: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    chosen = torch.randperm(len(y), generator=gen)[:round(rate * len(y))]
    offset = torch.randint(1, n_classes, (len(chosen),), generator=gen)  # 1..C-1: never the same class
    noisy = y.clone()
    noisy[chosen] = (y[chosen] + offset) % n_classes
    return noisy, chosen


def _asymmetric(y: torch.Tensor, rate: float, classes: list[str],
                gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    noisy, chosen = y.clone(), []
    for source, target in sorted(pair_map(classes).items()):  # one draw per source class, in class order
        members = torch.nonzero(y == source).flatten()
        pick = members[torch.randperm(len(members), generator=gen)[:round(rate * len(members))]]
        noisy[pick] = target
        chosen.append(pick)
    return noisy, torch.cat(chosen) if chosen else torch.zeros(0, dtype=torch.long)


def apply_label_noise(y: torch.Tensor, classes: list[str], kind: str, rate: float,
                      gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(noisy labels, mask of the samples whose label changed); `y` is left as it is.

    Deterministic given the generator's state (datasets.build: the data_seed's, after subset and imbalance).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown label_noise kind {kind!r}; valid: {', '.join(KINDS)}")
    if not 0 <= rate <= 1:
        raise ValueError(f"label_noise.rate must be in [0, 1], got {rate!r}")
    if kind == "none" or rate == 0 or len(classes) < 2:
        return y.clone(), torch.zeros(len(y), dtype=torch.bool)
    if kind == "symmetric":
        noisy, chosen = _symmetric(y, rate, len(classes), gen)
    else:
        noisy, chosen = _asymmetric(y, rate, classes, gen)
    mask = torch.zeros(len(y), dtype=torch.bool)
    mask[chosen] = True
    return noisy, mask
