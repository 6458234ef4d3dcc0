"""Tests of s2mlib.gan.precision: 'auto' follows the hardware (capabilities mocked), explicit bf16 on an emulating CPU
warns in one line, and the generator and training record the choice."""

from __future__ import annotations

import warnings

import pytest
import torch
from helpers import needs_native_bf16

from s2mlib.errors import InputError
from s2mlib.gan import precision
from s2mlib.gan.precision import EmulatedPrecisionWarning, autocast, bf16_native, describe, resolve_precision

CPU = torch.device("cpu")


@pytest.fixture
def avx2_cpu(monkeypatch):
    """A CPU like the paper's Threadripper 2950X or an AVX2 EPYC: no AVX-512 BF16, no AMX, oneDNN without bf16."""
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")


@pytest.fixture
def bf16_cpu(monkeypatch):
    """A CPU with AVX-512 BF16 on which oneDNN runs bf16 (e.g. AMD Zen 4, Intel Cooper Lake)."""
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)


def test_auto_is_fp32_on_a_cpu_without_native_bf16(avx2_cpu):
    assert not bf16_native(CPU)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # auto never warns
        assert resolve_precision("auto", CPU) == "fp32"
    assert resolve_precision("fp32", CPU) == "fp32"
    assert describe(CPU, "fp32") == "fp32 on cpu (AVX2; bf16 emulated)"


def test_auto_is_bf16_where_the_cpu_has_it(bf16_cpu):
    assert bf16_native(CPU)
    assert resolve_precision("auto", CPU) == "bf16"


def test_onednn_without_bf16_is_not_native(bf16_cpu, monkeypatch):
    """AVX-512 BF16 in the CPU but oneDNN held below it (ONEDNN_MAX_CPU_ISA=AVX2): emulated."""
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert resolve_precision("auto", CPU) == "fp32"


def test_explicit_bf16_where_emulated_warns_once_in_one_line(avx2_cpu):
    with pytest.warns(EmulatedPrecisionWarning) as seen:
        assert resolve_precision("bf16", CPU) == "bf16"  # the user asked: kept, but told
    (message,) = [str(w.message) for w in seen]
    assert "\n" not in message and "AVX2" in message and "50x slower" in message and "fp32 or auto" in message
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resolve_precision("bf16", CPU, warn=False)


def test_unknown_precision_is_refused_in_one_line():
    with pytest.raises(InputError, match="precision must be one of auto, fp32, bf16, got 'half'"):
        resolve_precision("half", CPU)


def test_autocast_needs_a_resolved_precision():
    with pytest.raises(ValueError, match="resolve the precision first"):
        autocast(CPU, "auto")
    x = torch.ones(2, 2)
    with autocast(CPU, "fp32"):
        assert (x @ x).dtype == torch.float32


@needs_native_bf16
def test_autocast_bf16_runs_bf16_where_native():
    x = torch.ones(2, 2)
    with autocast(CPU, "bf16"):
        assert (x @ x).dtype == torch.bfloat16


def test_the_generator_resolves_auto_by_the_hardware(avx2_cpu):
    from s2mlib.gan.generate import MapGenerator

    assert MapGenerator(device="cpu", progress=False).precision == "fp32"  # the default: auto
    with pytest.warns(EmulatedPrecisionWarning):
        assert MapGenerator(device="cpu", progress=False, precision="bf16").precision == "bf16"


def test_old_profile_keys_are_refused_with_their_new_names():
    from s2mlib.errors import S2MError
    from s2mlib.run.config import check_keys

    with pytest.raises(S2MError, match="'generate_bf16' is now generate_precision"):
        check_keys(["generate_bf16"], "-p")
    with pytest.raises(S2MError, match="'bf16' is now precision"):
        check_keys(["bf16"], "params/old.yaml")
    check_keys(["precision", "generate_precision"], "-p")


def test_training_config_checks_precision():
    from s2mlib.gan.train import TrainConfig

    assert TrainConfig().precision == "fp32"
    with pytest.raises(InputError, match="precision must be one of"):
        TrainConfig(precision="fp16")


def test_provenance_records_the_resolved_choice(avx2_cpu, monkeypatch):
    from s2mlib.gan import runtime
    from s2mlib.run.provenance import precisions

    monkeypatch.setattr(runtime, "openvino_available", lambda: True)
    assert precisions({"device": "cpu", "precision": "auto", "generate_precision": "auto"}) == {
        "training": "fp32",
        "generation": "fp32",
        "generation_runtime": "openvino",
    }
    assert precision.cpu_capability() == "AVX2"


def test_s2m_generate_says_its_precision_and_keeps_the_old_option(tmp_path, capsys):
    """--precision fp32 is printed with the runtime; --bf16 (earlier releases) still means --precision bf16."""
    from helpers import pair

    from s2mlib.cli import main
    from s2mlib.cli.generate import add_parser

    model = str(pair("2566_3J6B")["model_path"])
    assert main(["generate", model, "-o", str(tmp_path / "a.mrc"), "--resolution", "6", "--precision", "fp32"]) == 0
    assert " in fp32 (" in capsys.readouterr().out
    import argparse

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    assert parser.parse_args(["generate", model, "--bf16"]).precision == "bf16"


def test_s2m_generate_verbose_says_what_was_chosen_and_why(tmp_path, capsys, avx2_cpu):
    """--verbose: on a CPU without native bf16, auto is fp32, and the line says so with the capability."""
    from helpers import pair

    from s2mlib.cli import main

    model = str(pair("5925_3J6J")["model_path"])
    assert main(["generate", model, "-o", str(tmp_path / "a.mrc"), "--runtime", "torch", "--verbose"]) == 0
    said = [line for line in capsys.readouterr().err.splitlines() if line.startswith("s2m generate: precision")]
    assert said == [
        f"s2m generate: precision fp32 (asked auto) on cpu (AVX2; bf16 emulated), runtime torch (asked torch), "
        f"{torch.get_num_threads()} threads"
    ]
