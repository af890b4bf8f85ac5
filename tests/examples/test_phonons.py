"""The phonon example: the q-path's special points are where the honeycomb's are, and the bundled
model gives graphene acoustic modes at zero and optical modes where SevenNet-0 puts them (±10 %)."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.calculators.calculator import Calculator, all_changes

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
from phonons import POINTS, modes, path_q, phonons, za_exponent  # noqa: E402

from ase_cnnas import CNNASCalculator  # noqa: E402
from ase_cnnas.heights import atom_heights, in_plane_pairs  # noqa: E402
from ase_cnnas.sheets import A_LATTICE  # noqa: E402


def test_special_points_of_the_honeycomb():
    qs, xs, ticks = path_q(n=10)
    assert len(qs) == 33 and ticks == pytest.approx([xs[0], xs[10], xs[21], xs[32]])
    # |ΓM| = 1/(√3 a), |MK| = 1/(3a), |KΓ| = 2/(3a) (reciprocal lengths without 2π)
    assert np.diff(ticks) == pytest.approx([1 / (np.sqrt(3) * A_LATTICE), 1 / (3 * A_LATTICE),
                                            2 / (3 * A_LATTICE)], rel=1e-9)


def test_graphene_in_plane_modes():
    ph = phonons("graphene", CNNASCalculator("flat", device="cpu"), flat=True)
    gamma = modes(ph, POINTS["Γ"])
    assert len(gamma) == 4 and np.abs(gamma[:2]).max() < 0.1  # the acoustic sum rule
    # SevenNet-0 in this cell: 39.40 THz (G mode at Γ), 26.85 THz (lowest in-plane at K)
    assert gamma[2:] == pytest.approx([39.40, 39.40], rel=0.1)
    assert modes(ph, POINTS["K"])[0] == pytest.approx(26.85, rel=0.1)


def test_free_standing_modes(sheet_model_file):
    """A model that sees heights, displaced in 3D: six modes a q-point, three acoustic ones at
    zero at Γ (the sum rule), and a ZA exponent or the imaginary frequency that prevents one."""
    ph = phonons("hbn", CNNASCalculator(sheet_model_file, device="cpu"), flat=False)
    gamma = modes(ph, POINTS["Γ"], every=True)
    assert len(gamma) == 6 and (np.abs(gamma) < 1e-3).sum() == 3  # random weights: the optical
    # modes may be imaginary, but the three acoustic ones are zero
    exponent, lowest = za_exponent(ph)
    assert np.isfinite(lowest) and (np.isnan(exponent) or 0 < exponent < 3)


def test_primitive_supercell_equals_the_papers_cell_for_short_range_forces():
    """Force constants shorter-ranged than half of either supercell give the same dynamical
    matrix at every q: the n × n primitive route (--free) and the 60-atom route agree."""
    from ase.calculators.lj import LennardJones
    from phonons import relaxed_a

    lj = LennardJones(sigma=1.3, epsilon=0.1, rc=3.0, smooth=True)
    rect, prim = phonons("hbn", lj, flat=False), phonons("hbn", lj, False, A_LATTICE, n=5)
    for q in (*POINTS.values(), (0.3, 0.1, 0)):
        assert modes(prim, q, every=True) == pytest.approx(modes(rect, q, every=True), abs=0.02)
    a = relaxed_a("hbn", lj, n=3)
    assert 2.2 < a < 2.8 and a != pytest.approx(A_LATTICE, abs=1e-3)


def test_points_against_a_reference_kept_between_runs(tmp_path, monkeypatch):
    """phonons_points.py: a calculator at half the reference's strength has every frequency
    1/√2 of the reference's at Γ, M and K; the reference's force constants are reused."""
    import phonons_points
    from conftest import LJ

    monkeypatch.setattr(sys, "argv", ["phonons_points.py", "--materials", "hbn", "--reference",
                                      LJ, "--calculators", "conftest:SoftLJ", "--out",
                                      str(tmp_path)])
    phonons_points.main()
    text = (tmp_path / "phonons.md").read_text()
    diffs = [float(d) for d in re.findall(r"\(([-+\d.]+) %\)", text)]
    assert len(diffs) == 3 * 6 - 3 and diffs == pytest.approx([-29.3] * 15, abs=0.06)
    assert (tmp_path / "bands_hbn.png").stat().st_size > 10_000  # the bands of both
    saved = sorted(tmp_path.glob("hbn_*_n*.yaml"))
    assert len(saved) == 4  # both calculators are references: n = 2 and 3 each
    stamps = [p.stat().st_mtime for p in saved]
    phonons_points.main()
    assert [p.stat().st_mtime for p in saved] == stamps
    assert (tmp_path / "phonons.md").read_text().split("Hardware")[1] == text.split("Hardware")[1]
    other = tmp_path / "other"  # --cache: another table from the same force constants
    monkeypatch.setattr(sys, "argv", [*sys.argv, "--out", str(other), "--cache", str(tmp_path)])
    phonons_points.main()
    assert [p.stat().st_mtime for p in saved] == stamps and not list(other.glob("*.yaml"))
    assert (other / "phonons.md").read_text().split("Hardware")[1] == text.split("Hardware")[1]


class HeightSprings(Calculator):
    """The energy k_u Σ u_i² (u: each atom's height above its neighbours, ase_cnnas/heights.py)
    plus stiff springs between first and second neighbours at their rest lengths (lattice
    constant `a`), which raise the in-plane modes above the out-of-plane ones and add nothing
    to these."""
    implemented_properties = ["energy", "forces"]

    def __init__(self, a: float):
        super().__init__()
        self.a = a

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        positions = self.atoms.positions
        cells, frame = self.atoms.cell.array[None], np.zeros(len(positions), dtype=int)
        i, j, shift = map(torch.as_tensor, in_plane_pairs(positions, cells, frame, 1.1 * self.a))
        pos, cells_t = torch.tensor(positions, requires_grad=True), torch.tensor(cells)
        length = (pos[j] + shift.double() @ cells_t[0, :2] - pos[i]).norm(dim=1)
        u = atom_heights(pos, cells_t, torch.as_tensor(frame))
        rest = torch.where(length.detach() < 0.8 * self.a, self.a / np.sqrt(3), self.a)
        energy = 2.0 * u.square().sum() + 50.0 * (length - rest).square().sum()
        self.results = {"energy": float(energy.detach()),
                        "forces": -torch.autograd.grad(energy, pos)[0].numpy()}


def test_local_height_ratio_is_that_of_an_energy_in_u_alone():
    """The ZO(Γ)/K ratio that phonons_points.py quotes for an energy k Σ u² is what phonopy gives
    for such a calculator (whose in-plane modes sit far above); a stiffer k changes neither."""
    import phonons_points

    a = 2.46
    points = {p: modes(phonons("graphene", HeightSprings(a), False, a, 3),
                       POINTS[p], every=True) for p in ("Γ", "K")}
    assert points["Γ"][3] > 1 and points["Γ"][4] > 2 * points["Γ"][3]  # ZO, then in-plane
    assert phonons_points.zo_ratio(points) == pytest.approx(
        phonons_points.local_height_ratio(a), rel=2e-3)
    assert 1.2 < phonons_points.local_height_ratio(a) < 1.5
