"""Generate the paper's dimer data sets: two atoms in a periodic box, labelled by a pair potential.

The data sets of NOTES §2: two Z = 1 atoms in a periodic box. Only positions are stored; images
are rasterised later, on the fly.

Units: positions in Å, energies in ε and forces in ε/Å (σ = 1 Å, ε = 1). The frames file calls
its energy unit "eV"; for dimers read "eV" as ε. The label is the isolated pair's U(r): the
periodic images (atom 2's nearest one at ≥ box − r, e.g. 7 Å) are ignored, as in the paper.

    cnnas data dimers -o dimers.h5 --dim 2 --n 500000 --range 1:1.67 --range 2.33:3
    cnnas data dimers -o lj-energy.h5 --space energy --range=-1:-0.5 --sampling energy
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.spatial import cKDTree
from tqdm import tqdm

from .h5data import Frames, append_frames

R_WINDOW = (1.0, 3.0)  # Å: the distances the paper's energy sets (and extra models) are drawn from
SPACES = ("distance", "energy")
SAMPLINGS = ("distance", "energy")
STALLED_ROUNDS = 100  # rounds in a row without a new distinct dimer before giving up


@dataclass(frozen=True)
class Potential:
    """A pair potential U(r), its derivative, the r of its minimum (where U changes branch; None
    when U is monotonic) and its inverse on a branch (-1: r below the minimum, +1: above)."""

    method: str
    energy: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray], np.ndarray]
    turn: float | None
    inverse: Callable[[np.ndarray, int], np.ndarray]


POTENTIALS = {
    # U = 4(x² − x) with x = r⁻⁶, so x = (1 ∓ √(1 + U)) / 2 on the branch below / above 2^(1/6)
    "lj": Potential("lj(sigma=1,epsilon=1)", lambda r: 4 * (r ** -12 - r ** -6),
                    lambda r: 24 * r ** -7 - 48 * r ** -13, 2 ** (1 / 6),
                    lambda u, s: ((1 - s * np.sqrt(np.clip(1 + u, 0, None))) / 2) ** (-1 / 6)),
    "harmonic": Potential("harmonic(U=(r-2)^2)", lambda r: (r - 2) ** 2, lambda r: 2 * (r - 2),
                          2.0, lambda u, s: 2 + s * np.sqrt(np.clip(u, 0, None))),
    "r12": Potential("r12(U=r^-12)", lambda r: r ** -12, lambda r: -12 * r ** -13, None,
                     lambda u, s: u ** (-1 / 12)),
}


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The union of `intervals` as sorted, disjoint intervals (overlaps are not counted twice)."""
    out: list[tuple[float, float]] = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _branches(pot: Potential, lo: float, hi: float) -> list[tuple[float, float, int]]:
    """[lo, hi] cut at the potential's minimum into pieces (a, b, branch), U monotonic on each."""
    if pot.turn is None:
        return [(lo, hi, 0)]
    return [(a, b, s) for a, b, s in ((lo, min(hi, pot.turn), -1), (max(lo, pot.turn), hi, 1))
            if a < b]


def _pieces(ranges: list[tuple[float, float]], space: str, pot: Potential,
            box: float) -> np.ndarray:
    """The allowed distances as rows (r_lo, r_hi, branch), each on one monotonic branch of U."""
    if not ranges:
        raise ValueError("no ranges given; pass at least one interval, e.g. [(1, 3)]")
    for lo, hi in ranges:
        if not lo < hi:
            raise ValueError(f"interval ({lo}, {hi}) is empty or inverted; give it as (lo, hi) "
                             "with lo < hi")
    ranges = _merge([(float(lo), float(hi)) for lo, hi in ranges])
    if space == "distance":
        if ranges[0][0] <= 0:
            raise ValueError(f"distance interval {ranges[0]} reaches r ≤ 0; distances must be > 0")
        pieces = [p for lo, hi in ranges for p in _branches(pot, lo, hi)]
    else:
        pieces, span = [], (np.inf, -np.inf)
        for a, b, s in _branches(pot, *R_WINDOW):
            ends = {float(pot.energy(a)): a, float(pot.energy(b)): b}  # exact r at the ends
            ua, ub = sorted(ends)
            span = (min(span[0], ua), max(span[1], ub))
            for lo, hi in ranges:
                ulo, uhi = max(ua, lo), min(ub, hi)
                if ulo < uhi:
                    ra, rb = sorted(ends.get(u, float(pot.inverse(u, s))) for u in (ulo, uhi))
                    pieces.append((max(ra, a), min(rb, b), s))
        if not pieces:
            raise ValueError(f"energy intervals {ranges} hold no U of {pot.method} for "
                             f"{R_WINDOW[0]} ≤ r ≤ {R_WINDOW[1]} Å, where U spans "
                             f"[{span[0]:.4g}, {span[1]:.4g}] ε; choose energies inside that span")
    pieces = np.array(pieces, dtype=float)
    if pieces[:, 1].max() >= box / 2:
        raise ValueError(f"r up to {pieces[:, 1].max():.4g} Å is ≥ box/2 = {box / 2:.4g} Å, "
                         "where a periodic image of atom 2 would be nearer to atom 1 than atom 2 "
                         "is; use smaller distances or a larger box")
    return pieces


def _uniform_over(rng: np.random.Generator, n: int, spans: np.ndarray) -> np.ndarray:
    """n values uniform over the union of disjoint intervals `spans` [k, 2]."""
    start = np.concatenate([[0], np.cumsum(spans[:, 1] - spans[:, 0])])
    t = rng.uniform(0, start[-1], n)
    k = np.clip(np.searchsorted(start, t, side="right") - 1, 0, len(spans) - 1)
    return np.minimum(spans[k, 0] + (t - start[k]), spans[k, 1])


def _sample_distances(rng: np.random.Generator, n: int, pieces: np.ndarray, sampling: str,
                      pot: Potential) -> np.ndarray:
    """n distances from `pieces`: uniform in r over their union, or uniform in U over the union of
    their energies with r drawn with equal odds from the pieces (branches) that reach that U."""
    if sampling == "distance":
        return _uniform_over(rng, n, pieces[:, :2])
    ends = pot.energy(pieces[:, :2])
    lo, hi = ends.min(1), ends.max(1)
    u = _uniform_over(rng, n, np.array(_merge(list(zip(lo, hi)))))
    reach = (lo <= u[:, None]) & (u[:, None] <= hi)  # [n, pieces]
    pick = np.floor(rng.uniform(0, 1, n) * reach.sum(1))
    which = np.argmax(np.cumsum(reach, 1) > pick[:, None], axis=1)
    r = np.empty(n)
    for j, (a, b, s) in enumerate(pieces):
        r[which == j] = np.clip(pot.inverse(u[which == j], int(s)), a, b)
    return r


def _directions(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    """n unit vectors [n, 3], uniform on the circle in the xy plane (dim 2) or on the sphere."""
    if dim == 2:
        phi = rng.uniform(0, 2 * np.pi, n)
        return np.stack([np.cos(phi), np.sin(phi), np.zeros(n)], 1)
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _wrap(x: np.ndarray, box: float) -> np.ndarray:
    """x mod box, in [0, box) also where rounding of a tiny negative x would give box itself."""
    x = np.mod(x, box)
    return np.where(x >= box, 0.0, x)


def _draw(rng: np.random.Generator, m: int, dim: int, box: float, pieces: np.ndarray,
          sampling: str, pot: Potential) -> np.ndarray:
    """m candidate dimers as rows: atom 1 (3), atom 2 wrapped into the box (3), unit vector from
    atom 1 to atom 2 (3), r."""
    r = _sample_distances(rng, m, pieces, sampling, pot)
    unit = _directions(rng, m, dim)
    atom1 = np.zeros((m, 3))
    atom1[:, :dim] = rng.uniform(0, box, (m, dim))
    atom2 = atom1 + r[:, None] * unit
    atom2[:, :dim] = _wrap(atom2[:, :dim], box)
    return np.hstack([atom1, atom2, unit, r[:, None]])


def first_distinct(first: np.ndarray, second: np.ndarray, box: float, tol: float) -> np.ndarray:
    """Keep-mask over pairs (first[i], second[i]) [N, d] in a periodic cube of side `box`: pair j
    is dropped when an earlier kept pair i repeats it within `tol`, i.e. both of its atoms lie
    within `tol` Å (minimum-image Euclidean distance) of the two atoms of pair i, matched in
    either order. Candidates come from a periodic k-d tree on both orderings (joint distance
    ≤ tol·√2), then the per-atom test is applied exactly."""
    n, d = first.shape
    joint = np.concatenate([np.hstack([first, second]), np.hstack([second, first])])
    close = cKDTree(joint, boxsize=box).query_pairs(tol * np.sqrt(2), output_type="ndarray")
    delta = joint[close[:, 0]] - joint[close[:, 1]]
    delta -= box * np.round(delta / box)
    near = ((np.linalg.norm(delta[:, :d], axis=1) <= tol)
            & (np.linalg.norm(delta[:, d:], axis=1) <= tol))
    i, j = np.sort(close[near] % n, axis=1).T
    keep = np.ones(n, bool)
    for a, b in sorted(zip(i[i != j], j[i != j]), key=lambda p: p[1]):  # in order of the later pair
        if keep[a]:
            keep[b] = False
    return keep


def make_dimers(n: int, dim: int, ranges: list[tuple[float, float]], space: str = "distance",
                sampling: str = "distance", potential: str = "lj", box: float = 10.0,
                seed: int = 0, dedupe: float = 0.01) -> Frames:
    """`n` dimers of two Z = 1 atoms: atom 1 uniform in the box, atom 2 at distance r in a
    uniformly random direction, wrapped into the box. dim 2: a box × box cell in the plane z = 0
    (pbc x, y); dim 3: a periodic cube.

    `ranges` are intervals (lo, hi), overlaps merged (a hole is two intervals). With
    space="distance" they are r in Å (0 < r < box/2, so the minimum-image distance is r). With
    space="energy" they are U in ε and select {r in R_WINDOW = [1, 3] Å : U(r) in an interval} on
    every branch of U: the paper's energy sets are dimers with 1 ≤ r ≤ 3 labelled by U, and
    those whose U falls in an interval lie on both sides of the LJ minimum U(2^(1/6)) = −1, so
    [−1, −0.5] gives r in [1.027, 1.377] Å (keeping one branch would be a choice the paper does
    not make). An interval partly outside U's span over the window is clipped to it; one wholly
    outside is an error.

    sampling="distance": r uniform over the union (weighted by length). sampling="energy": U
    uniform over the energies the allowed r reach, then r = U⁻¹(U) on one of the branches that
    reach U, with equal odds; the histogram of U is flat.

    potential: "lj" 4[(1/r)¹² − (1/r)⁶], "harmonic" (r − 2)², "r12" r⁻¹². Energies U(r) and
    forces, +U'(r)·u on atom 1 and −U'(r)·u on atom 2 (u the unit vector from atom 1 to 2), are
    exact.

    De-duplication (the paper's): a pair is redrawn when both its atoms lie within `dedupe` Å
    (minimum-image distance) of the atoms of an earlier kept pair, matched in either order (see
    first_distinct); the result is the first n distinct draws, and dedupe=0 turns it off.
    Labels: {"distance": r}. Deterministic for a given seed.
    """
    if n < 1:
        raise ValueError(f"n = {n}: ask for at least one dimer")
    if dim not in (2, 3):
        raise ValueError(f"dim = {dim}: dimers come in 2 or 3 dimensions; pass dim=2 or dim=3")
    for name, value, allowed in (("space", space, SPACES), ("sampling", sampling, SAMPLINGS),
                                 ("potential", potential, tuple(POTENTIALS))):
        if value not in allowed:
            raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(allowed)}")
    if not box > 0:
        raise ValueError(f"box = {box}: the box side must be > 0 Å")
    if dedupe < 0:
        raise ValueError(f"dedupe = {dedupe}: give a tolerance ≥ 0 Å (0 turns de-duplication off)")
    pot = POTENTIALS[potential]
    pieces = _pieces(ranges, space, pot, box)
    rng = np.random.default_rng(seed)
    periodic = slice(0, dim)  # the coordinates the box wraps (z = 0 in 2D)
    drawn = np.zeros((0, 10))  # atom 1 (3), atom 2 (3), unit vector from 1 to 2 (3), r
    stalled = 0
    with tqdm(total=n, desc=f"dimers {dim}D", unit="dimer", disable=n < 50_000) as bar:
        while len(drawn) < n:
            before, m = len(drawn), n - len(drawn)
            drawn = np.concatenate([drawn, _draw(rng, m + m // 100 + 100, dim, box, pieces,
                                                 sampling, pot)])
            if dedupe > 0:  # the spare 1 % + 100 draws usually replace the rejects in one round
                drawn = drawn[first_distinct(drawn[:, periodic], drawn[:, 3:6][:, periodic], box,
                                             dedupe)]
            drawn = drawn[:n]
            stalled = stalled + 1 if len(drawn) == before else 0
            if stalled == STALLED_ROUNDS:
                raise ValueError(f"only {len(drawn)} of {n} dimers differ by more than dedupe = "
                                 f"{dedupe} Å; ask for fewer, or lower dedupe")
            bar.update(len(drawn) - before)
    atom1, atom2, unit, r = drawn[:, 0:3], drawn[:, 3:6], drawn[:, 6:9], drawn[:, 9]
    grad = pot.derivative(r)[:, None] * unit  # dU/d(atom 2 position)
    positions, forces = np.empty((2 * n, 3)), np.empty((2 * n, 3))
    positions[0::2], positions[1::2] = atom1, atom2
    forces[0::2], forces[1::2] = grad, -grad
    pbc = [True, True, dim == 3]
    settings = {"n": n, "dim": dim, "ranges": [list(map(float, x)) for x in ranges],
                "space": space, "sampling": sampling, "potential": potential, "box": box,
                "seed": seed, "dedupe": dedupe}
    return Frames(numbers=np.ones(2 * n, np.int64), positions=positions,
                  natoms=np.full(n, 2, np.int64), energy=pot.energy(r),
                  cell=np.broadcast_to(np.eye(3) * box, (n, 3, 3)).copy(),
                  pbc=np.tile(pbc, (n, 1)), forces=forces,
                  structure=np.full(n, f"dimer-{dim}d", dtype=object),
                  trajectory=np.zeros(n, np.int64), source=np.full(n, "dimers", dtype=object),
                  frame_index=np.arange(n), method=np.full(n, pot.method, dtype=object),
                  labels={"distance": r}, attrs={"settings": settings})


def _interval(text: str) -> tuple[float, float]:
    """'lo:hi' → (lo, hi)."""
    try:
        lo, hi = text.split(":")
        return float(lo), float(hi)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not LO:HI, e.g. 1:3 or -1:-0.5") from None


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("-o", "--output", required=True, help="HDF5 file to append to")
    ap.add_argument("--dim", type=int, choices=(2, 3), default=2,
                    help="a 2D box (the 256² images) or a 3D one (64³)")
    ap.add_argument("--n", type=int, help="how many dimers (default: the paper's 500,000 in 2D, "
                    "100,000 in 3D)")
    ap.add_argument("--range", type=_interval, action="append", metavar="LO:HI",
                    help="an interval of r (Å) or U (ε), per --space; repeat for a union (a hole "
                    "is two intervals); write --range=LO:HI when LO is negative (default: 1:3 "
                    "for --space distance)")
    ap.add_argument("--space", choices=SPACES, default="distance",
                    help="what --range limits: r, or U of r in [1, 3] Å on every branch")
    ap.add_argument("--sampling", choices=SAMPLINGS, default="distance",
                    help="uniform in r, or uniform in U")
    ap.add_argument("--potential", choices=tuple(POTENTIALS), default="lj",
                    help="the pair potential that labels the dimers: Lennard-Jones (σ = 1 Å, "
                    "ε = 1), (r − 2)² or r⁻¹²")
    ap.add_argument("--box", type=float, default=10.0, help="cell side, Å")
    ap.add_argument("--seed", type=int, default=0, help="of the random positions")
    ap.add_argument("--dedupe", type=float, default=0.01,
                    help="redraw a pair whose atoms both lie within this many Å of an earlier "
                    "pair's (0: off)")


def run(args: argparse.Namespace) -> None:
    """Make the dimers `args` ask for and append them to args.output."""
    if args.range is None and args.space == "energy":
        raise ValueError("--space energy needs --range, e.g. --range=-1:0")
    n = args.n if args.n is not None else (500_000 if args.dim == 2 else 100_000)
    frames = make_dimers(n, args.dim, args.range or [(1.0, 3.0)], space=args.space,
                         sampling=args.sampling, potential=args.potential, box=args.box,
                         seed=args.seed, dedupe=args.dedupe)
    settings = {k: v for k, v in vars(args).items()
                if k not in ("func", "output", "command", "data_command")}
    added = append_frames(args.output, frames, {"generator": "dimers", **settings})
    print(f"{args.output}: added {added} of {len(frames)} dimers")
