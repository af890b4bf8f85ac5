"""results/reliability.md: the bad-input corpus (input → exception and message), the fuzz counts,
and the long-MD figures of benchmarks/long_md.py when it has run.

    python benchmarks/reliability.py --fuzz-examples 500
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "badinput")]

from training.report import command, hardware, write_text  # noqa: E402


def corpus_rows() -> list[str]:
    import torch
    from corpus import CASES

    rows = ["| # | input | exception | message |", "|---|---|---|---|"]
    for k, case in enumerate(CASES, 1):
        if case.needs_cpu_only and torch.cuda.is_available():
            rows.append(f"| {k} | {case.given} | (skipped: this machine has a GPU) | |")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            try:
                case.run(Path(tmp))
                raise AssertionError(f"{case.name}: no error")
            except case.error as err:
                message = str(err).replace(tmp, "<tmp>").replace("|", "\\|")
                rows.append(f"| {k} | {case.name}: {case.given} | `{type(err).__name__}` | "
                            f"{message} |")
    return rows


def fuzz_rows(examples: int) -> list[str]:
    os.environ["CNNAS_FUZZ_EXAMPLES"] = str(examples)
    import test_fuzz

    start = time.time()
    for test in (test_fuzz.test_calculator_raises_only_setup_errors,
                 test_fuzz.test_importer_raises_only_import_errors,
                 test_fuzz.test_hdf5_reader_raises_only_data_file_errors):
        test()  # raises if anything but the documented exceptions comes out
    rows = [f"{examples} examples per target, {time.time() - start:.0f} s; every outcome was a "
            "result or the documented exception.", "", "| target | input | outcome | count |",
            "|---|---|---|---|"]
    for target, counts in test_fuzz.OUTCOMES.items():
        for key, n in sorted(counts.items()):
            given, _, outcome = key.rpartition(": ")
            rows.append(f"| {target} | {given} | {outcome} | {n} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fuzz-examples", type=int, default=500)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "reliability.md")
    args = ap.parse_args()
    long_md = args.out.with_name("long_md.md")
    lines = ["# Reliability", "", f"Regenerate: `{command()}`  ", f"Hardware: {hardware()}", "",
             "## Bad-input corpus (`pytest tests/badinput`)", "",
             "Each input goes to the part of ase-cnnas that takes it; the test asserts the "
             "exception type and that the message names the problem and the fix.", "",
             *corpus_rows(), "", "## Fuzzing (`tests/badinput/test_fuzz.py`, hypothesis)", "",
             *fuzz_rows(args.fuzz_examples), "", "## Long MD", "",
             (long_md.read_text().split("\n", 2)[2] if long_md.exists()
              else "Not run yet: `python benchmarks/long_md.py` (100 ps NVT at 1500 K).")]
    write_text(args.out, "\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
