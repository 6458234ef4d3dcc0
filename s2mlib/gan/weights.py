"""Generator weights files: writing and reading them, and the weights that ship with the package.

A weights file is a ``torch.save`` dict ``{"format": "struc2map-generator", "version": 1, "width": w,
"dtype": "float16" | "float32", "conditioned": bool, "input_kind": "molmap" | "bfactor", "state_dict": ...}``
(files without the last two are the paper's: unconditioned, molmap input), read back with
``torch.load(weights_only=True)`` (no code runs on load). :func:`export_generator` writes one from a
:class:`~s2mlib.gan.model.Generator` or from a training checkpoint; :func:`load_generator` gives a float32 generator in
eval mode. Inference needs only this module, the
model and the cube geometry: it never imports training.

Shipped weights (``s2mlib/weights/``, each with a model card ``<name>.md``): ``fast`` (the default) = width 8,
resolution-conditioned, on the B-factor-aware input, trained on a 2-core CPU, faster on a CPU (README, Benchmarks)
than ``shipped`` = the paper's network (width 32, unconditioned, molmap input), trained on one H100.

Example:
    >>> weights_path("fast").name
    'struc2map_generator_fast.pt'
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch

from ..errors import WeightsError
from ..io.outputs import atomic_write
from .model import Generator, resolve_device

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
SHIPPED_WEIGHTS = WEIGHTS_DIR / "struc2map_generator.pt"  # the paper's network (width 32, unconditioned), on a GPU
FAST_WEIGHTS = WEIGHTS_DIR / "struc2map_generator_fast.pt"  # width 8, resolution-conditioned, B-factor input, CPU
NAMED_WEIGHTS = {"shipped": SHIPPED_WEIGHTS, "fast": FAST_WEIGHTS}
# What MapGenerator and s2m generate use when no weights are named: the best on the validation entries (mean over
# the reported resolution, 5 and 8 A; its model card), and faster than the paper's width on a CPU.
DEFAULT_NAME = "fast"
DEFAULT_WEIGHTS = NAMED_WEIGHTS[DEFAULT_NAME]
GENERATOR_FORMAT = "struc2map-generator"
CHECKPOINT_FORMAT = "struc2map-checkpoint"


def weights_path(choice: str | os.PathLike) -> Path:
    """A shipped weights file by name ('shipped' = paper width, 'fast' = width 8), else ``choice`` as a path."""
    return NAMED_WEIGHTS.get(str(choice), Path(choice))


def load_torch_file(path: str | os.PathLike, file_format: str, what: str) -> dict:
    """A dict saved by this package, read with ``torch.load(weights_only=True)`` onto the CPU.

    Raises ValueError with one line naming the file when it is missing, unreadable (torch's own message cut to its
    first line), or not of ``file_format``.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: {what} file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for foreign or truncated files
        first_line = (str(exc).strip().splitlines() or [""])[0]
        raise WeightsError(f"{path}: not a readable {what} file ({type(exc).__name__}: {first_line})") from None
    if not isinstance(payload, dict) or payload.get("format") != file_format:
        raise WeightsError(f"{path}: not a struc2map {what} file")
    return payload


def export_generator(source: Generator | str | os.PathLike, path: str | os.PathLike, *, half: bool = True) -> Path:
    """Write the generator's weights only (fp16 when ``half``), with what is needed to use them (width, whether it
    is resolution-conditioned, the input it was trained on), for shipping; atomic.

    ``source`` is a :class:`Generator` or a training checkpoint path (:mod:`s2mlib.gan.train`).
    """
    if isinstance(source, Generator):
        state, width, conditioned, input_kind = source.state_dict(), source.width, source.conditioned, source.input_kind
    else:
        checkpoint = load_torch_file(source, CHECKPOINT_FORMAT, "training checkpoint")
        config = checkpoint["config"]
        state, width = checkpoint["generator"], int(config["width"])
        conditioned, input_kind = bool(config.get("conditioned", False)), config.get("input_kind", "molmap")
    dtype = torch.float16 if half else torch.float32
    payload = {
        "format": GENERATOR_FORMAT,
        "version": 1,
        "width": width,
        "dtype": str(dtype).removeprefix("torch."),
        "conditioned": conditioned,
        "input_kind": input_kind,
        "state_dict": {k: v.detach().to("cpu", dtype).contiguous() for k, v in state.items()},
    }
    path = Path(path)
    atomic_write(lambda tmp: torch.save(payload, tmp), path)
    return path


def average_generators(paths: Sequence[str | os.PathLike]) -> Generator:
    """The element-wise mean of generator weight files of one kind (width, conditioning, input):
    theta = (1/k) sum_i theta_i, stochastic weight averaging (Izmailov et al. 2018), which for GANs evens out the
    generator's oscillation late in training (Yazici et al. 2019). Files of another kind are an error naming them.

    >>> from s2mlib.gan.checkpoints import WeightSnapshots  # doctest: +SKIP
    >>> snapshots = list(WeightSnapshots("runs/weights/train/snapshots").files().values())  # doctest: +SKIP
    >>> export_generator(average_generators(snapshots[-5:]), "averaged.pt")  # doctest: +SKIP
    """
    if not paths:
        raise WeightsError("no generator weights files to average")
    generators = [load_generator(path) for path in paths]
    first = generators[0]
    kind = (first.width, first.conditioned, first.input_kind)
    for path, generator in zip(paths, generators):
        if (generator.width, generator.conditioned, generator.input_kind) != kind:
            raise WeightsError(
                f"{path}: a generator of width {generator.width}, conditioned={generator.conditioned}, input "
                f"{generator.input_kind}; {paths[0]} is width {kind[0]}, conditioned={kind[1]}, input {kind[2]}"
            )
    states = [generator.state_dict() for generator in generators]
    first.load_state_dict({key: sum(state[key] for state in states) / len(states) for key in states[0]})
    return first


def load_generator(path: str | os.PathLike, device: str | torch.device = "cpu") -> Generator:
    """A float32 :class:`Generator` in eval mode from :func:`export_generator`'s file (``weights_only=True``), with
    the input it was trained on as ``input_kind``."""
    payload = load_torch_file(path, GENERATOR_FORMAT, "generator weights")
    generator = Generator(
        int(payload["width"]),
        conditioned=bool(payload.get("conditioned", False)),
        input_kind=str(payload.get("input_kind", "molmap")),
    )
    try:
        generator.load_state_dict({k: v.float() for k, v in payload["state_dict"].items()})
    except RuntimeError as exc:
        raise WeightsError(
            f"{path}: weights do not fit a generator of width {payload['width']} ({(str(exc).splitlines() or [''])[0]})"
        ) from None
    return generator.to(resolve_device(device)).eval()
