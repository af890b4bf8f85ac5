"""Dimer data sets: geometry, intervals, analytic labels, sampling histograms, de-duplication,
errors, the CLI arguments and the HDF5 round trip."""
from __future__ import annotations

import argparse

import numpy as np
import pytest

from training import dimers
from training.dimers import POTENTIALS, add_arguments, first_distinct, make_dimers, run
from training.h5data import read_frames, write_frames

FORMULAS = {"lj": lambda r: 4 * (r ** -12 - r ** -6), "harmonic": lambda r: (r - 2) ** 2,
            "r12": lambda r: r ** -12}


def separation(frames, box=10.0):
    """Minimum-image vector from atom 1 to atom 2 of every frame [F, 3] (z not wrapped in 2D)."""
    d = frames.positions[1::2] - frames.positions[0::2]
    periodic = frames.pbc[0]
    d[:, periodic] -= box * np.round(d[:, periodic] / box)
    return d


def assert_flat(values, lo, hi, bins=20):
    """Counts per bin within 5 standard deviations of the flat expectation."""
    counts, _ = np.histogram(values, bins, (lo, hi))
    expect = len(values) / bins
    assert np.abs(counts - expect).max() < 5 * np.sqrt(expect), counts


@pytest.mark.parametrize("dim", [2, 3])
def test_geometry_and_metadata(dim):
    f = make_dimers(2000, dim, [(1, 3)], seed=1)
    assert len(f) == 2000 and (f.natoms == 2).all() and (f.numbers == 1).all()
    assert (f.positions >= 0).all() and (f.positions < 10).all()
    if dim == 2:
        assert (f.positions[:, 2] == 0).all()
    r = f.labels["distance"]
    assert np.allclose(np.linalg.norm(separation(f), axis=1), r, rtol=0, atol=1e-12)
    assert (f.cell == np.diag([10.0] * 3)).all()
    assert (f.pbc == [True, True, dim == 3]).all()
    assert set(f.structure) == {f"dimer-{dim}d"} and set(f.source) == {"dimers"}
    assert set(f.method) == {"lj(sigma=1,epsilon=1)"}
    assert (f.trajectory == 0).all() and (f.frame_index == np.arange(2000)).all()
    assert f.attrs["settings"]["dim"] == dim


def test_directions_uniform_in_3d():
    """On the sphere the z component of the unit vector is uniform in [−1, 1] (Archimedes)."""
    f = make_dimers(8000, 3, [(1, 3)], seed=2)
    u = separation(f) / f.labels["distance"][:, None]
    assert_flat(u[:, 2], -1, 1, bins=10)
    assert np.abs(u.mean(0)).max() < 0.05


def test_deterministic_for_a_seed():
    a, b, c = (make_dimers(100, 2, [(1, 3)], seed=s) for s in (5, 5, 6))
    assert (a.positions == b.positions).all() and not np.allclose(a.positions, c.positions)


def test_distance_intervals_with_a_hole():
    r = make_dimers(6000, 2, [(1, 1.5), (2, 3)], seed=3).labels["distance"]
    assert r.min() >= 1 and r.max() <= 3 and not ((r > 1.5) & (r < 2)).any()
    assert abs(np.mean(r < 1.5) - 1 / 3) < 0.03  # weighted by length: 0.5 of 1.5 Å
    assert_flat(r[r >= 2], 2, 3, bins=10)


def test_distance_sampling_is_uniform_in_r():
    assert_flat(make_dimers(10000, 2, [(1, 3)], seed=4).labels["distance"], 1, 3)


def test_energy_sampling_is_flat_in_u_with_both_lj_branches():
    """r in [1, 3]: U of LJ spans [−1, 0] (only the inner branch reaches above U(3) ≈ −0.0055);
    where both branches reach a U each is taken with equal odds."""
    f = make_dimers(10000, 2, [(1, 3)], sampling="energy", seed=5)
    assert_flat(f.energy, -1, 0)
    both = f.energy < FORMULAS["lj"](3.0)
    outer = f.labels["distance"][both] > 2 ** (1 / 6)
    assert abs(outer.mean() - 0.5) < 0.03


def test_energy_space_with_a_hole_sampled_in_energy():
    f = make_dimers(10000, 2, [(-1, -0.67), (-0.33, 0)], space="energy", sampling="energy",
                    seed=6)
    u = f.energy
    assert u.min() >= -1 and u.max() <= 0 and not ((u > -0.67) & (u < -0.33)).any()
    assert abs(np.mean(u < -0.5) - 0.33 / 0.66) < 0.03
    assert_flat(u[u < -0.5], -1, -0.67, bins=10)
    assert_flat(u[u > -0.5], -0.33, 0, bins=10)


@pytest.mark.parametrize("potential, interval, r_lo, r_hi", [
    ("lj", (-1, -0.5), ((1 + np.sqrt(0.5)) / 2) ** (-1 / 6), ((1 - np.sqrt(0.5)) / 2) ** (-1 / 6)),
    ("harmonic", (0, 0.25), 1.5, 2.5),
    ("r12", (2.0 ** -12, 1.5 ** -12), 1.5, 2.0),
])
def test_energy_space_selects_r_on_every_branch(potential, interval, r_lo, r_hi):
    f = make_dimers(3000, 2, [interval], space="energy", potential=potential, seed=7)
    r = f.labels["distance"]
    assert r.min() >= r_lo - 1e-12 and r.max() <= r_hi + 1e-12
    assert r.min() < r_lo + 0.01 and r.max() > r_hi - 0.01
    assert f.energy.min() >= interval[0] - 1e-12 and f.energy.max() <= interval[1] + 1e-12


@pytest.mark.parametrize("potential", sorted(POTENTIALS))
def test_energies_and_forces_are_exact(potential):
    f = make_dimers(300, 3, [(1, 3)], potential=potential, seed=8)
    r = f.labels["distance"]
    assert np.allclose(f.energy, FORMULAS[potential](r), rtol=1e-13, atol=0)
    assert (f.forces[0::2] == -f.forces[1::2]).all()
    d = separation(f)
    h = 1e-6
    for k in range(3):  # force on atom 2 = −dU/dx₂ by central differences
        step = np.eye(3)[k] * h
        fd = -(FORMULAS[potential](np.linalg.norm(d + step, axis=1))
               - FORMULAS[potential](np.linalg.norm(d - step, axis=1))) / (2 * h)
        assert np.allclose(f.forces[1::2, k], fd, rtol=1e-6, atol=1e-6)


def test_first_distinct_rejects_repeats_within_tolerance():
    a, b = np.array([[0.005, 5.0], [2.0, 5.0]]), np.array([[6.0, 6.0], [4.0, 4.0]])
    first = np.array([a[0], a[0], b[0], a[0] - [0.008, 0.0], a[0] + [0.011, 0], a[1]])
    second = np.array([b[0], b[0], a[0], b[0] - [0.006, 0.0], b[0], b[1]])
    keep = first_distinct(np.mod(first, 10), np.mod(second, 10), 10.0, 0.01)
    # exact repeat, swapped repeat, repeat across the periodic boundary: dropped;
    # one atom 0.011 Å away: kept; an unrelated pair: kept
    assert keep.tolist() == [True, False, False, False, True, True]


def test_first_distinct_compares_with_kept_pairs_only():
    """A ~ B and B ~ C but not A ~ C: B goes, C stays (as when drawing one pair at a time)."""
    first = np.array([[1.0, 1.0], [1.008, 1.0], [1.016, 1.0]])
    second = first + [2.0, 0.0]
    assert first_distinct(first, second, 10.0, 0.01).tolist() == [True, False, True]


def test_make_dimers_redraws_an_exact_repeat(monkeypatch):
    draw, calls = dimers._draw, []

    def repeating(*args):
        rows = draw(*args)
        calls.append(rows.copy())
        if len(calls) == 1:
            rows[1] = rows[0]
        return rows

    monkeypatch.setattr(dimers, "_draw", repeating)
    f = make_dimers(50, 2, [(1, 3)], seed=9)
    assert len(f) == 50
    assert not np.allclose(f.positions[0:2], f.positions[2:4])
    assert np.allclose(f.positions[2:4], calls[0][2, :6].reshape(2, 3))


def close_pairs(frames, tol, box=10.0):
    """How many pairs of frames repeat each other within `tol` (brute force, either order)."""
    p1, p2 = frames.positions[0::2, :2], frames.positions[1::2, :2]

    def dist(x, y):
        d = x[:, None] - y[None]
        d -= box * np.round(d / box)
        return np.linalg.norm(d, axis=2)

    same = (dist(p1, p1) <= tol) & (dist(p2, p2) <= tol)
    swapped = (dist(p1, p2) <= tol) & (dist(p2, p1) <= tol)
    return int(np.triu(same | swapped, 1).sum())


def test_no_two_dimers_repeat_within_dedupe():
    """A coarse tolerance in a narrow shell forces many redraws; none of the kept pairs repeat."""
    assert close_pairs(make_dimers(300, 2, [(1, 1.01)], dedupe=0, seed=10), 0.5) > 0
    assert close_pairs(make_dimers(300, 2, [(1, 1.01)], dedupe=0.5, seed=10), 0.5) == 0


def test_too_many_for_the_tolerance_is_an_error(monkeypatch):
    monkeypatch.setattr(dimers, "STALLED_ROUNDS", 3)
    with pytest.raises(ValueError, match="lower dedupe"):
        make_dimers(5, 2, [(1, 1.01)], box=2.1, dedupe=5.0)


@pytest.mark.parametrize("kwargs, message", [
    ({"ranges": [(2, 1)]}, "inverted"),
    ({"ranges": [(1, 1)]}, "inverted"),
    ({"ranges": []}, "no ranges"),
    ({"ranges": [(0, 1)]}, "r ≤ 0"),
    ({"ranges": [(1, 5)]}, "box/2"),
    ({"ranges": [(1, 3)], "box": 5.0}, "box/2"),
    ({"ranges": [(-1, 0)], "space": "energy", "box": 6.0}, "box/2"),
    ({"ranges": [(0.1, 2)], "space": "energy"}, "hold no U"),
    ({"ranges": [(-3, -1.5)], "space": "energy"}, "hold no U"),
    ({"n": 0}, "at least one"),
    ({"dim": 1}, "2 or 3"),
    ({"dim": 4}, "2 or 3"),
    ({"potential": "morse"}, "unknown potential"),
    ({"sampling": "log"}, "unknown sampling"),
    ({"space": "force"}, "unknown space"),
    ({"box": 0.0}, "box side"),
    ({"dedupe": -0.1}, "dedupe"),
])
def test_bad_input_is_a_clear_error(kwargs, message):
    args = {"n": 10, "dim": 2, "ranges": [(1, 3)], **kwargs}
    with pytest.raises(ValueError, match=message):
        make_dimers(**args)


def parse(*argv):
    ap = argparse.ArgumentParser()
    add_arguments(ap)
    return ap.parse_args(["-o", "dimers.h5", *argv])


def test_cli_arguments(tmp_path):
    def made(*argv):  # run the command into a fresh file, read back what it wrote
        out = tmp_path / f"d{len(list(tmp_path.iterdir()))}.h5"
        run(parse(*argv, "-o", str(out)))
        return read_frames(out)

    args = parse("--n", "40", "--range", "1:1.67", "--range", "2.33:3", "--sampling", "energy")
    assert args.range == [(1.0, 1.67), (2.33, 3.0)] and args.output == "dimers.h5"
    f = made("--n", "40", "--range", "1:1.67", "--range", "2.33:3", "--sampling", "energy")
    assert len(f) == 40 and set(f.structure) == {"dimer-2d"}
    args = parse("--dim", "3", "--n", "30", "--space", "energy", "--range=-1:-0.5")
    assert args.range == [(-1.0, -0.5)]
    f = made("--dim", "3", "--n", "30", "--space", "energy", "--range=-1:-0.5")
    assert len(f) == 30 and f.energy.max() <= -0.5
    assert parse().n is None and len(made("--n", "5").labels["distance"]) == 5
    with pytest.raises(ValueError, match="needs --range"):
        run(parse("--space", "energy", "--n", "5"))
    with pytest.raises(SystemExit):
        parse("--range", "1-3")


def test_frames_round_trip_through_hdf5(tmp_path):
    f = make_dimers(200, 2, [(1, 2)], potential="harmonic", seed=11)
    path = tmp_path / "dimers.h5"
    write_frames(path, f, {"generator": "test"})
    g = read_frames(path)
    for key in ("numbers", "positions", "forces", "natoms", "energy", "cell", "pbc", "structure",
                "source", "method", "trajectory", "frame_index", "hash"):
        assert (getattr(g, key) == getattr(f, key)).all(), key
    assert (g.labels["distance"] == f.labels["distance"]).all()
