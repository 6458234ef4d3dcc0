"""Tests of s2mlib.gan.runtime: OpenVINO computes the same cubes as eager PyTorch to 5e-4 of their range (real cubes of
a real model, the shipped fast weights and a paper-style unconditioned network), the converted model is cached
whole, and the choice of runtime follows the device, the precision and what is installed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import pair

from s2mlib.errors import InputError, MissingDependency
from s2mlib.gan import runtime as rt
from s2mlib.gan.generate import generator_input
from s2mlib.gan.model import Generator
from s2mlib.gan.runtime import CubeRunner, resolve_runtime
from s2mlib.gan.tiling import cube_corners, cut_cube
from s2mlib.gan.weights import export_generator, load_generator, weights_path
from s2mlib.io.atoms import read_structure

pytestmark = pytest.mark.usefixtures("one_torch_thread")
needs_openvino = pytest.mark.skipif(not rt.openvino_available(), reason="openvino is not installed")
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def real_cubes():
    """Eight non-empty input cubes of 2566_3J6B (the fast weights' B-factor input at 4 A), in a batch."""
    structure = read_structure(pair("2566_3J6B")["model_path"])
    array = generator_input(structure, "bfactor", 4.0).data
    cubes = [cut_cube(array, c) for c in cube_corners(array.shape)]
    full = [c for c in cubes if c.any()]
    return np.stack(full[:: max(1, len(full) // 8)][:8])[:, None]


@needs_openvino
def test_openvino_equals_pytorch_on_real_cubes(real_cubes, tmp_path):
    path = weights_path("fast")
    network = load_generator(path, CPU)
    eager = CubeRunner.build(network, CPU, "fp32", runtime="torch")(real_cubes, 4.0)
    fast = CubeRunner.build(network, CPU, "fp32", runtime="openvino", weights=path, cache=tmp_path)
    assert fast.runtime == "openvino"
    got = fast(real_cubes, 4.0)
    assert got.shape == eager.shape == (len(real_cubes), 32, 32, 32) and got.dtype == np.float32
    # OpenVINO's kernels order the sums differently: 1.3e-4 of the largest value seen (PyTorch's own AVX2 and
    # AVX-512 kernels differ by 1e-6); the maps' scores move by less than that (README, Benchmarks)
    np.testing.assert_allclose(got, eager, rtol=0, atol=5e-4 * float(np.abs(eager).max()))
    np.testing.assert_array_equal(fast(real_cubes[:3], 4.0), got[:3])  # any batch size, the same cubes
    (saved,) = (tmp_path / "openvino").iterdir()
    assert saved.name == rt.weights_digest(path) and {p.name for p in saved.iterdir()} == {"model.xml", "model.bin"}
    again = CubeRunner.build(network, CPU, "fp32", runtime="openvino", weights=path, cache=tmp_path)
    np.testing.assert_array_equal(again(real_cubes, 4.0), got)  # read back from the cache: the same model


@needs_openvino
def test_openvino_runs_an_unconditioned_network(real_cubes, tmp_path):
    torch.manual_seed(0)
    network = Generator(width=2).eval()
    file = export_generator(network, tmp_path / "paper_like.pt", half=False)
    eager = CubeRunner.build(network, CPU, "fp32", runtime="torch")(real_cubes)
    got = CubeRunner.build(network, CPU, "fp32", runtime="openvino", weights=file, cache=tmp_path)(real_cubes)
    np.testing.assert_allclose(got, eager, rtol=0, atol=5e-4 * float(np.abs(eager).max()))


def test_auto_picks_openvino_only_for_fp32_on_a_cpu(monkeypatch):
    monkeypatch.setattr(rt, "openvino_available", lambda: True)
    assert resolve_runtime("auto", CPU, "fp32") == "openvino"
    assert resolve_runtime("auto", CPU, "bf16") == "torch"
    assert resolve_runtime("auto", torch.device("cuda"), "fp32") == "torch"
    monkeypatch.setattr(rt, "openvino_available", lambda: False)
    assert resolve_runtime("auto", CPU, "fp32") == "torch"


def test_bad_runtimes_are_refused_in_one_line(monkeypatch):
    with pytest.raises(InputError, match="runtime must be one of auto, torch, openvino, got 'onnx'"):
        resolve_runtime("onnx", CPU, "fp32")
    with pytest.raises(InputError, match="float32 on the CPU here, not bf16 on cpu"):
        resolve_runtime("openvino", CPU, "bf16")
    monkeypatch.setattr(rt, "openvino_available", lambda: False)
    with pytest.raises(MissingDependency, match="pip install openvino"):
        resolve_runtime("openvino", CPU, "fp32")
