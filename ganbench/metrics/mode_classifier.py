"""The digit classifier that labels each channel of a Stacked MNIST image, trained by ganbench itself.

A small LeNet-style CNN (two 5x5 convolutions with batch norm and max pooling, 32 and 64 channels, then 128 hidden
units; 258,506 parameters) on 32x32 digits in [-1, 1], MNIST's 28x28 zero-padded by 2 px exactly as `stacked-mnist` pads
them. It is trained on the official MNIST **train** split only (all 60,000 digits; the val digits that
`stacked-mnist` holds out are part of it: a model's settings are chosen on generated images, never on these
weights) and checked on the official **test** split: below MIN_ACCURACY it is refused (ModeClassifierError), since
every mode count made with it would be off. (The same network without batch norm and the last epoch's lower rate
scored 99.00% here: too close to the bar.)

Weights are never shipped or committed: they are trained on first use (`classifier(root)`, once per machine and
training set, under a file lock so parallel trials train it once; on a 2-core AMD EPYC it took 116 CPU seconds,
69 s of wall clock on a quiet machine, two threads, 2026-12-07 (under a load of 12-14 it took 500 CPU s, 30.5 min)) or
beforehand by

    uv run python -m ganbench.metrics.mode_classifier --data ../shared/data/mnist

and cached at cache_dir()/mode_classifier/<key>.pt, where the key hashes the recipe and the training data's
content (SHA-256 of the MNIST train images and labels as decoded). `ModeClassifier.info` (recorded in every
evaluation's protocol) holds the SHA-256 of the weights, of the training and test data, the test accuracy and how
long training took; a cached file whose weights no longer match their recorded hash is retrained, never trusted.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
from torch import nn

from ganbench.io import atomic_write_bytes, cache_dir

MIN_ACCURACY = 0.99  # on MNIST test; below it the classifier is refused
RECIPE = {
    "version": 2,
    "network": "conv5x5(1->32) bn relu maxpool2, conv5x5(32->64) bn relu maxpool2, fc(1600->128) relu, fc(128->10)",
    "input": "32x32, MNIST zero-padded by 2 px, uint8 / 127.5 - 1",
    "optimizer": "Adam lr 1e-3 (0.9, 0.999); lr 1e-4 in the last epoch",
    "epochs": 3,
    "batch_size": 128,
    "seed": 0,
    "data": "MNIST official train split (60,000), shuffled each epoch; no augmentation",
}
BATCH = 1000  # digits per forward pass when labelling


class ModeClassifierError(RuntimeError):
    """The classifier cannot be trained or used (missing MNIST files, accuracy below MIN_ACCURACY)."""


def network() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 32, 5),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 5 * 5, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


def to_input(digits: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 32, 32) or (N, 1, 32, 32) -> float (N, 1, 32, 32) in [-1, 1]."""
    x = digits if digits.ndim == 4 else digits[:, None]
    return x.float().div(127.5).sub(1)


def weights_sha256(net: nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in net.state_dict().items():
        h.update(name.encode())
        h.update(np.ascontiguousarray(t.detach().cpu().numpy()).data)
    return h.hexdigest()


def _data_sha256(images: torch.Tensor, labels: torch.Tensor) -> str:
    h = hashlib.sha256(np.ascontiguousarray(images.numpy()).data)
    h.update(np.ascontiguousarray(labels.numpy().astype(np.int64)).data)
    return h.hexdigest()


@dataclass
class ModeClassifier:
    net: nn.Module
    info: dict[str, Any] = field(default_factory=dict)

    @torch.no_grad()
    def digits(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, 32, 32) -> int64 (N, C): the digit class of every channel, on the CPU."""
        n, c = images.shape[:2]
        flat = images.reshape(n * c, 1, *images.shape[2:])
        self.net.eval()
        out = [self.net(to_input(flat[i : i + BATCH])).argmax(1) for i in range(0, len(flat), BATCH)]
        return (torch.cat(out) if out else torch.zeros(0, dtype=torch.int64)).view(n, c)


def mnist_official(root: str | Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST's official train or test split under `root` (torchvision's files, never downloaded), padded to 32x32:
    uint8 (N, 32, 32) and int64 (N,)."""
    import torchvision

    from ganbench.data.stacked_mnist import pad_digits

    try:
        ds = torchvision.datasets.MNIST(str(root), train=train, download=False)
    except RuntimeError as e:
        raise ModeClassifierError(
            f"MNIST files not found under '{root}' ({e}): the mode classifier trains on torchvision's MNIST files"
        ) from None
    return torch.from_numpy(pad_digits(ds.data.numpy())), ds.targets.to(torch.int64)


def accuracy(model: ModeClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    return float((model.digits(images[:, None])[:, 0] == labels).float().mean())


def train_classifier(images: torch.Tensor, labels: torch.Tensor, recipe: dict[str, Any] = RECIPE) -> nn.Module:
    """Train the network on uint8 (N, 32, 32) digits; deterministic for a given thread count."""
    torch.manual_seed(recipe["seed"])
    net = network()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    order = torch.Generator().manual_seed(recipe["seed"])
    bs = recipe["batch_size"]
    net.train()
    for epoch in range(recipe["epochs"]):
        for group in opt.param_groups:  # a tenth of the rate in the last epoch: the last few tenths of a percent
            group["lr"] = 1e-3 if epoch < recipe["epochs"] - 1 else 1e-4
        perm = torch.randperm(len(images), generator=order)
        for i in range(0, len(images), bs):
            idx = perm[i : i + bs]
            loss = nn.functional.cross_entropy(net(to_input(images[idx])), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return net.eval()


def check_accuracy(value: float, where: str) -> None:
    """The accuracy check: refuse a classifier below MIN_ACCURACY on MNIST test (a miscounted mode is a wrong
    result, not a noisy one)."""
    if not value >= MIN_ACCURACY:
        raise ModeClassifierError(
            f"the mode classifier scores {value:.2%} on MNIST test ({where}), below the {MIN_ACCURACY:.0%} it must "
            "reach: its mode counts would be wrong. Check the MNIST files (their SHA-256 is in the data README)"
        )


def classifier(root: str | Path, progress: bool = True) -> ModeClassifier:
    """The cached classifier for the MNIST files under `root`, trained (and checked) on first use."""
    from filelock import FileLock

    train_x, train_y = mnist_official(root, train=True)
    data_sha = _data_sha256(train_x, train_y)
    key = hashlib.sha256(json.dumps({"recipe": RECIPE, "train_data": data_sha}, sort_keys=True).encode()).hexdigest()
    path = cache_dir() / "mode_classifier" / f"mnist-{key[:20]}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        model = _load(path)
        if model is not None:
            return model
        test_x, test_y = mnist_official(root, train=False)
        if progress:
            print(
                f"ganbench: training the Stacked MNIST mode classifier on MNIST train ({len(train_x):,} digits, "
                f"{RECIPE['epochs']} epochs; once per machine: about 2 CPU minutes on a quiet 2-core CPU) ...",
                file=sys.stderr,
                flush=True,
            )
        t0, c0 = time.perf_counter(), time.process_time()
        net = train_classifier(train_x, train_y)
        seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
        model = ModeClassifier(net)
        acc = accuracy(model, test_x, test_y)
        check_accuracy(acc, f"trained from '{root}'")
        model.info = {
            "what": "LeNet-style CNN trained by ganbench (ganbench/metrics/mode_classifier.py)",
            "recipe": RECIPE,
            "weights_sha256": weights_sha256(net),
            "train_data_sha256": data_sha,
            "test_data_sha256": _data_sha256(test_x, test_y),
            "test_accuracy": acc,
            "min_accuracy": MIN_ACCURACY,
            "train_seconds": round(seconds, 1),  # wall clock
            "train_cpu_seconds": round(cpu_seconds, 1),  # this process's CPU time, all threads
            "train_threads": torch.get_num_threads(),
            "torch": torch.__version__,
        }
        buf = io.BytesIO()
        torch.save({"state": net.state_dict(), "info": json.dumps(model.info)}, buf)
        atomic_write_bytes(path, buf.getvalue())
        if progress:
            print(
                f"ganbench: mode classifier trained in {seconds:.0f} s, MNIST test accuracy {acc:.2%}; "
                f"cached at {path}",
                file=sys.stderr,
            )
        return model


def _load(path: Path) -> ModeClassifier | None:
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        net = network()
        net.load_state_dict(blob["state"])
        info = json.loads(blob["info"])
        if weights_sha256(net) != info["weights_sha256"]:
            raise ValueError("weights differ from their recorded hash")
        check_accuracy(info["test_accuracy"], f"cached at {path}")
        return ModeClassifier(net.eval(), info | {"cache": str(path)})
    except ModeClassifierError:
        raise
    except Exception as e:  # corrupt or foreign: retrained, never trusted
        print(f"ganbench: mode classifier cache {path} unusable ({e}); training it again", file=sys.stderr)
        return None


def main(data: Annotated[str, "folder holding torchvision's MNIST files (MNIST/raw/)"]) -> None:
    """Train (or find) the mode classifier for the MNIST files under DATA and print its record as JSON."""
    model = classifier(data)
    print(json.dumps(model.info, indent=2))


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--data", required=True, help="folder holding torchvision's MNIST files (MNIST/raw/)")
    main(parser.parse_args().data)
