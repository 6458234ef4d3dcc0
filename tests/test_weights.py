"""Tests of s2mlib.gan.weights: generator files round-trip (fp16 within fp16 precision, fp32 exactly), bad files give
one line naming the file, and the shipped weights load by name."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from helpers import ROOT

from s2mlib.gan.model import Generator
from s2mlib.gan.weights import (
    DEFAULT_WEIGHTS,
    FAST_WEIGHTS,
    SHIPPED_WEIGHTS,
    average_generators,
    export_generator,
    load_generator,
    weights_path,
)


def test_export_and_load_generator(tmp_path):
    torch.manual_seed(0)
    full = Generator(2)
    half = export_generator(full, tmp_path / "g16.pt")
    payload = torch.load(half, weights_only=True)
    assert payload["format"] == "struc2map-generator" and payload["width"] == 2 and payload["dtype"] == "float16"
    assert all(v.dtype == torch.float16 for v in payload["state_dict"].values())
    g = load_generator(half)
    assert isinstance(g, Generator) and g.width == 2 and not g.training
    assert all(v.dtype == torch.float32 for v in g.state_dict().values())
    exact = load_generator(export_generator(full, tmp_path / "g32.pt", half=False))
    x = torch.rand(1, 1, 32, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(exact(x), full(x), rtol=0, atol=0)
        torch.testing.assert_close(g(x), full(x), rtol=1e-2, atol=1e-3)


@pytest.mark.parametrize("content", [b"not torch", b"PK\x03\x04 truncated zip", b"{'a': 1}\n" * 3])
def test_a_file_that_is_not_a_generator_is_one_line_naming_it(tmp_path, content):
    path = tmp_path / "junk.pt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="junk.pt: not a readable generator weights file") as info:
        load_generator(path)
    assert "\n" not in str(info.value)
    torch.save({"a": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt: not a struc2map generator weights file"):
        load_generator(tmp_path / "other.pt")
    with pytest.raises(ValueError, match="absent.pt: generator weights file not found"):
        load_generator(tmp_path / "absent.pt")


def test_weights_of_another_width_do_not_fit(tmp_path):
    path = export_generator(Generator(2), tmp_path / "g.pt")
    payload = torch.load(path, weights_only=True)
    payload["width"] = 4
    torch.save(payload, path)
    with pytest.raises(ValueError, match="do not fit a generator of width 4") as info:
        load_generator(path)
    assert "\n" not in str(info.value)


def test_average_of_generators_is_the_mean_of_each_weight(tmp_path):
    """Hand-made case: three generators whose every weight is 1, 2 and 6 average to 3; a real one averaged with
    itself three times is unchanged; generators of another kind are refused, naming the file."""
    paths = []
    for i, value in enumerate((1.0, 2.0, 6.0)):
        g = Generator(2, conditioned=True)
        g.load_state_dict({k: torch.full_like(v, value) for k, v in g.state_dict().items()})
        paths.append(export_generator(g, tmp_path / f"g{i}.pt", half=False))
    averaged = average_generators(paths)
    assert averaged.width == 2 and averaged.conditioned
    assert all(torch.equal(v, torch.full_like(v, 3.0)) for v in averaged.state_dict().values())
    torch.manual_seed(1)
    real = export_generator(Generator(2), tmp_path / "real.pt", half=False)
    same = average_generators([real, real, real])
    expected = load_generator(real).state_dict()
    for key, value in same.state_dict().items():  # (a + a + a) / 3 is a within float32 rounding
        torch.testing.assert_close(value, expected[key], rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="real.pt: a generator of width 2, conditioned=False"):
        average_generators([paths[0], real])
    with pytest.raises(ValueError, match="no generator weights files"):
        average_generators([])


@pytest.mark.parametrize("name, path, width", [("shipped", SHIPPED_WEIGHTS, 32), ("fast", FAST_WEIGHTS, 8)])
def test_shipped_weights_by_name(name, path, width):
    """Both shipped files exist (<= 25 MB together) and load by name."""
    assert SHIPPED_WEIGHTS.stat().st_size + FAST_WEIGHTS.stat().st_size <= 25e6
    assert DEFAULT_WEIGHTS == FAST_WEIGHTS  # the best on validation (model card)
    assert weights_path(name) == path and weights_path(str(path)) == path
    assert load_generator(weights_path(name)).width == width


def test_inference_does_not_import_training():
    """generate needs the model, the cube geometry and this module: never s2mlib.gan.train or TorchIO."""
    code = (
        "import s2mlib.gan.generate, sys; bad = [m for m in ('s2mlib.gan.train', 's2mlib.gan.patches', 'torchio') "
        "if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
