"""Every case of the bad-input corpus raises its documented exception, whose message names the
problem and the fix, and no traceback starts inside torch, h5py or numpy without one."""
from __future__ import annotations

import re

import pytest
import torch
from corpus import CASES


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 20 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case, tmp_path):
    if case.needs_cpu_only and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(Exception) as caught:
        case.run(tmp_path)
    assert type(caught.value) is case.error or isinstance(caught.value, case.error), caught.value
    message = str(caught.value)
    assert re.search(case.problem, message), f"the problem is not named: {message}"
    assert re.search(case.fix, message), f"the fix is not named: {message}"
