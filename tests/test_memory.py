from __future__ import annotations

import platform

import pytest

from ase_cnnas.memory import keep_freed_memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc malloc setting")
def test_keep_freed_memory_takes_effect_on_glibc():
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True  # idempotent: the calculator calls it once per instance
