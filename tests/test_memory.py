"""keep_freed_memory: a process-wide malloc setting, taken only where asked for."""
from __future__ import annotations

import platform

import pytest

from ase_cnnas import memory
from ase_cnnas.calculator import CNNASCalculator


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc malloc setting")
def test_keep_freed_memory_takes_effect_on_glibc():
    assert memory.keep_freed_memory() is True
    assert memory.keep_freed_memory() is True  # idempotent: several calculators may ask


def test_keep_freed_memory_does_nothing_off_glibc(monkeypatch):
    monkeypatch.setattr(platform, "libc_ver", lambda: ("musl", "1.2"))
    assert memory.keep_freed_memory() is False


@pytest.mark.parametrize("opt_in", [False, True])
def test_the_calculator_changes_malloc_only_when_asked(model_file, monkeypatch, opt_in):
    calls = []
    monkeypatch.setattr(memory, "keep_freed_memory", lambda: calls.append(1) or True)
    calc = (CNNASCalculator(model_file, device="cpu", keep_freed_memory=True) if opt_in
            else CNNASCalculator(model_file, device="cpu"))
    assert len(calls) == opt_in
    assert calc.parameters.keep_freed_memory is opt_in
