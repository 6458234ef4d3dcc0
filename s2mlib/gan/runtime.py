"""What computes the generator's cubes at inference: eager PyTorch, or OpenVINO on a CPU.

``runtime``:

- ``'torch'``: the network itself, eagerly, on its device, in the resolved precision (:mod:`s2mlib.gan.precision`);
  the reference, and the path of every GPU and of bf16;
- ``'openvino'``: the same network converted once to OpenVINO (``openvino.convert_model``, traced with a dynamic
  batch) and compiled for the CPU in float32, once per batch length with that length fixed (a static shape: about
  7 % faster than the dynamic one here; a compilation takes 0.1 s). On a 2-core AMD EPYC with oneDNN held to AVX2
  the fast weights' cube cost 0.030 s on 2 threads against 0.13 s in eager PyTorch (benchmarks/bench_generate.py);
  its kernels sum in another order, so outputs differ from PyTorch's by up to about 1.3e-4 of their range
  (tests/test_runtime.py, on real cubes; PyTorch's own AVX2 and AVX-512 kernels differ by 1e-6), which moves no map
  score by 0.001 (README, Benchmarks);
- ``'auto'``: OpenVINO for fp32 on a CPU when the package is installed (it is in environment.yml), else PyTorch.

The conversion takes some seconds, so the converted model is kept in the cache folder (``$S2M_CACHE``, else
``~/.cache/struc2map``) under ``openvino/<first 16 hex digits of the weights file's SHA-256>/``, written whole or not
at all, and read from there by later calls.

Example:
    >>> import torch
    >>> from s2mlib.gan.model import Generator
    >>> run = CubeRunner.build(Generator(width=2), torch.device("cpu"), "fp32", runtime="torch")
    >>> run(np.zeros((1, 1, 32, 32, 32), np.float32)).shape
    (1, 32, 32, 32)
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError, MissingDependency
from .tiling import CUBE

if TYPE_CHECKING:
    import torch

RUNTIMES = ("auto", "torch", "openvino")


def openvino_available() -> bool:
    """True when the ``openvino`` package can be imported."""
    return find_spec("openvino") is not None


def resolve_runtime(runtime: str, device: torch.device, precision: str) -> str:
    """'torch' or 'openvino': what ``runtime`` means for ``device`` and a resolved ``precision`` (module docstring).
    An explicit 'openvino' needs the CPU, float32 and the package (else one line saying which is missing)."""
    if runtime not in RUNTIMES:
        raise InputError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    cpu_fp32 = device.type == "cpu" and precision == "fp32"
    if runtime == "auto":
        return "openvino" if cpu_fp32 and openvino_available() else "torch"
    if runtime == "openvino":
        if not cpu_fp32:
            raise InputError(f"runtime openvino runs float32 on the CPU here, not {precision} on {device}")
        if not openvino_available():
            raise MissingDependency(
                "runtime openvino needs the openvino package: pip install openvino (pinned in environment.yml)"
            )
    return runtime


@functools.cache
def _core():
    """The process's one ``openvino.Core``: the models read and compiled by it stay valid as long as the process
    (a Core per call, freed while its compiled models lived on, corrupted memory later in the process)."""
    import openvino as ov

    return ov.Core()


def weights_digest(path: str | os.PathLike) -> str:
    """The first 16 hex digits of the SHA-256 of a weights file: the converted model's name in the cache."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _converted(network: torch.nn.Module, folder: Path):
    """The OpenVINO model of ``network`` from ``folder`` (model.xml + model.bin), converting and saving it there
    first (whole or not at all: a temporary folder renamed into place) when absent."""
    import openvino as ov
    import torch

    model_file = folder / "model.xml"
    if not model_file.is_file():
        folder.parent.mkdir(parents=True, exist_ok=True)
        conditioned = getattr(network, "conditioned", False)
        example = (torch.zeros(2, 1, CUBE, CUBE, CUBE),) + ((torch.full((2,), 3.5),) if conditioned else ())
        shapes = [ov.PartialShape([-1, 1, CUBE, CUBE, CUBE])] + ([ov.PartialShape([-1])] if conditioned else [])
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # the batch size is dynamic: shapes=-1
            model = ov.convert_model(network.eval(), example_input=example, input=shapes)
        work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        try:
            ov.save_model(model, work / "model.xml", compress_to_fp16=False)
            os.replace(work, folder)
        except OSError:
            if not model_file.is_file():  # not another process that saved it first
                raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return _core().read_model(model_file)


class CubeRunner:
    """``runner(batch, level=None)``: the generator's output cubes (B, 32, 32, 32) float32 for input cubes
    (B, 1, 32, 32, 32) float32, with the target resolution ``level`` (A) for a conditioned network; ``cubes`` counts
    the cubes computed."""

    def __init__(self, runtime: str, compute: Callable[[np.ndarray, float | None], np.ndarray]) -> None:
        self.runtime, self._compute = runtime, compute
        self.cubes = 0  # cubes computed so far

    def __call__(self, batch: np.ndarray, level: float | None = None) -> np.ndarray:
        self.cubes += len(batch)
        return self._compute(batch, level)

    @classmethod
    def build(
        cls,
        network: torch.nn.Module,
        device: torch.device,
        precision: str,
        *,
        runtime: str = "auto",
        channels_last: bool = False,
        weights: str | os.PathLike | None = None,
        cache: str | os.PathLike | None = None,
    ) -> CubeRunner:
        """The runner of ``network`` (already on ``device``) for a resolved ``precision``. OpenVINO's converted
        model is cached under ``cache`` (default: the download cache) by the digest of ``weights`` (the file the
        network came from); without ``weights`` it is converted in a temporary folder each time."""
        chosen = resolve_runtime(runtime, device, precision)
        if chosen == "openvino":
            return cls._openvino(network, weights, cache)
        return cls._torch(network, device, precision, channels_last)

    @classmethod
    def _torch(cls, network, device, precision: str, channels_last: bool) -> CubeRunner:
        import torch

        from .model import place
        from .precision import autocast

        def compute(batch: np.ndarray, level: float | None) -> np.ndarray:
            x = place(torch.from_numpy(batch), device, channels_last)
            with torch.inference_mode(), autocast(device, precision):
                out = network(x) if level is None else network(x, torch.full((len(batch),), level))
            return out.float()[:, 0].cpu().numpy()

        return cls("torch", compute)

    @classmethod
    def _openvino(cls, network, weights, cache) -> CubeRunner:
        import torch

        from ..io.download import default_cache

        if weights is None:
            with tempfile.TemporaryDirectory() as tmp:
                model = _converted(network, Path(tmp) / "model")
        else:
            root = Path(cache) if cache is not None else default_cache()
            model = _converted(network, root / "openvino" / weights_digest(weights))
        config = {"INFERENCE_NUM_THREADS": torch.get_num_threads(), "INFERENCE_PRECISION_HINT": "f32"}
        conditioned = len(model.inputs) > 1
        requests: dict[int, Any] = {}  # batch length -> a request compiled for that static shape

        def request_for(n: int):
            if n not in requests:
                sized = model.clone()
                sized.reshape(
                    {port: [n, 1, CUBE, CUBE, CUBE] if i == 0 else [n] for i, port in enumerate(sized.inputs)}
                )
                requests[n] = _core().compile_model(sized, "CPU", config).create_infer_request()
            return requests[n]

        def compute(batch: np.ndarray, level: float | None) -> np.ndarray:
            inputs = [np.ascontiguousarray(batch, np.float32)]
            if conditioned:
                if level is None:
                    raise ValueError("a resolution-conditioned generator needs the target resolution")
                inputs.append(np.full(len(batch), level, np.float32))
            return np.array(request_for(len(batch)).infer(inputs)[0][:, 0], np.float32)

        return cls("openvino", compute)
