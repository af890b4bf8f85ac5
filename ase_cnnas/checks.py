"""What a model can describe: each check raises CalculatorSetupError naming the problem and the
fix, before a structure reaches the network. Units: Å.
"""
from __future__ import annotations

import itertools

import numpy as np
from ase import Atoms
from ase.calculators.calculator import CalculatorSetupError
from ase.data import chemical_symbols
from scipy.spatial import cKDTree

from .cells import CellError, check_sheet_cell
from .model import EnergyModel

CELL_TOLERANCE = 1e-3  # Å, how far a cell may differ from the model's
PLANE_TOLERANCE = 1e-2  # Å, largest spread of z a flat 2D model accepts
MIN_DISTANCE = 0.1  # Å, atoms closer than this overlap: the input is broken
STACKED = 0.7  # Å: two atoms closer than this in the plane lie above each other (layers, bulk)


def closest_pair(atoms: Atoms) -> tuple[float, int, int]:
    """The smallest distance between two atoms (Å), periodic images included, and the pair (an
    atom paired with itself: its own image is closest)."""
    cell, pbc = atoms.cell.array, atoms.pbc
    if len(atoms) > 1 and not np.count_nonzero(cell - np.diag(np.diag(cell))):
        return _closest_in_box(atoms.positions, np.diag(cell), pbc)
    pos = atoms.get_positions(wrap=True)
    tree = cKDTree(pos)
    best = (np.inf, -1, -1)
    for shift in itertools.product(*[(-1, 0, 1) if p else (0,) for p in pbc]):
        dist, j = tree.query(pos + np.array(shift) @ cell, k=min(2, len(pos)))
        dist, j = dist.reshape(len(pos), -1), j.reshape(len(pos), -1)
        col = 1 if not any(shift) else 0  # with no shift the nearest is the atom itself
        if col < dist.shape[1]:
            i = int(np.argmin(dist[:, col]))
            best = min(best, (float(dist[i, col]), i, int(j[i, col])))
    return best


def _closest_in_box(positions: np.ndarray, sides: np.ndarray, pbc: np.ndarray
                    ) -> tuple[float, int, int]:
    """closest_pair for an orthogonal cell: one query of a k-d tree on the torus (6× faster
    than a query per image on 15,000 atoms); non-periodic axes get a box far wider than the
    atoms' spread."""
    spread = np.ptp(positions, axis=0)
    box = np.where(pbc, sides, spread + 1e3)
    x = np.where(pbc, positions % np.where(pbc, sides, 1), positions - positions.min(0))
    x[x >= box] = 0.0  # x % L can round to L itself
    workers = -1 if len(x) > 10_000 else 1  # threads cost 7 ms to start: large cells only
    dist, j = cKDTree(x, boxsize=box).query(x, k=2, workers=workers)
    i = int(np.argmin(dist[:, 1]))
    best = (float(dist[i, 1]), i, int(j[i, 1]))
    own = np.min(np.where(pbc, sides, np.inf))  # every atom's own nearest image
    return min(best, (float(own), 0, 0))


def _fmt_cell(cell: np.ndarray, d: int) -> str:
    c = np.round(cell[:d, :d], 4)
    if np.count_nonzero(c - np.diag(np.diag(c))):
        return f"the vectors {c.tolist()} Å (not orthogonal)"
    return " × ".join(f"{x:.4f}" for x in np.diag(c)) + " Å"


def check_cell(model: EnergyModel, cell: np.ndarray, pbc=(True, True, False)) -> None:
    """A fixed-cell model takes its training cell; an extensive model any orthogonal cell whose
    sides are whole multiples of `multiple` pixels of its spacing; an any-cell model any sheet's
    cell (cells.check_sheet_cell)."""
    d = model.dim
    if model.any_cell:
        try:
            check_sheet_cell(cell, pbc)
        except CellError as err:
            raise CalculatorSetupError(str(err)) from err
        return
    if not model.extensive:
        if np.abs(cell[:d, :d] - model.cell[:d, :d]).max() > CELL_TOLERANCE:
            raise CalculatorSetupError(
                f"the model was trained for the cell {_fmt_cell(model.cell, d)} and works only on "
                f"that cell; these atoms have {_fmt_cell(cell, d)}: build the structure in that "
                "cell, use model='extensive' for larger cells, or train a model on yours")
        return
    step = model.spacing * model.multiple  # Å: the sides must be whole multiples of this
    sides = np.diag(cell)[:d]
    off_diagonal = np.abs(cell[:d, :d] - np.diag(sides)).max()
    whole = np.round(sides / step)
    if off_diagonal > CELL_TOLERANCE or (whole < 1).any() or \
            np.abs(sides - whole * step).max() > CELL_TOLERANCE:
        raise CalculatorSetupError(
            f"this extensive model takes orthogonal cells whose sides are whole multiples of "
            f"{' × '.join(f'{x:.4f}' for x in step)} Å (its training cell "
            f"{_fmt_cell(model.cell, d)} and its supercells, e.g. atoms.repeat((2, 2, 1))); these "
            f"atoms have {_fmt_cell(cell, d)}: build an orthogonal supercell of such a size "
            "(ase.build.make_supercell)")


def check_atoms(model: EnergyModel, atoms: Atoms) -> float:
    """Raise CalculatorSetupError, naming the fix, for atoms this model cannot describe; return
    the closest distance between two atoms (Å, inf for one atom)."""
    if len(atoms) == 0:
        raise CalculatorSetupError("the Atoms object holds no atoms; give the calculator a "
                                   "structure, e.g. ase_cnnas.sheets.build_sheet('hbn_pristine')")
    bad = np.flatnonzero(~np.isfinite(atoms.positions).all(axis=1))
    if len(bad):
        raise CalculatorSetupError(
            f"atom {bad[0]} has a non-finite position {atoms.positions[bad[0]].tolist()} "
            f"({len(bad)} such atoms): the input is broken or an MD run blew up; restart from the "
            "last good frame, with a smaller time step")
    unknown = sorted(set(atoms.numbers.tolist()) - set(model.elements))
    if unknown:
        known = ", ".join(chemical_symbols[z] for z in model.elements)
        raise CalculatorSetupError(
            f"the model knows only {known}; these atoms hold "
            f"{', '.join(chemical_symbols[z] for z in unknown)}: "
            "train a model on data that holds them")
    d, axes = model.dim, "xyz"[:model.dim]
    if not all(atoms.pbc[:d]) and not model.any_cell:  # an any-cell model's check_cell says
        raise CalculatorSetupError(
            f"the model needs periodic boundaries along {', '.join(axes)}; set "
            f"atoms.pbc = {tuple([True] * d + [False] * (3 - d))} and a cell that spans the sheet")
    check_cell(model, atoms.cell.array, atoms.pbc)
    if model.network.config.heights:
        check_single_sheet(atoms)
    elif d == 2:
        spread = np.ptp(atoms.positions[:, 2])
        if spread > PLANE_TOLERANCE:
            raise CalculatorSetupError(
                "2D model: all atoms must lie in one plane z = const, but z spreads over "
                f"{spread:.3f} Å; keep them there with atoms.set_constraint("
                "ase.constraints.FixedPlane(range(len(atoms)), [0, 0, 1]))")
    dist, i, j = closest_pair(atoms)
    if dist < MIN_DISTANCE:
        raise CalculatorSetupError(
            f"atoms {i} and {j} overlap ({dist:.3f} Å apart, closer than {MIN_DISTANCE} Å): the "
            "structure is broken; check for duplicated atoms or an MD run that blew up")
    return dist


def check_single_sheet(atoms: Atoms) -> None:
    """A free-standing sheet model describes one layer: refuse atoms that lie above one another
    (closer than STACKED in the plane), as in layered or bulk crystals."""
    flat = Atoms(numbers=atoms.numbers, positions=atoms.positions * [1, 1, 0], cell=atoms.cell,
                 pbc=(*atoms.pbc[:2], False))
    rho, i, j = closest_pair(flat)  # the closest pair in the plane
    if rho < STACKED and i != j:
        dz = abs(atoms.positions[i, 2] - atoms.positions[j, 2])
        raise CalculatorSetupError(
            f"atoms {i} and {j} lie above each other ({dz:.2f} Å apart along z, less than "
            f"{STACKED} Å in the plane): the model describes single sheets, not layered or bulk "
            "crystals; give it one layer in a cell with vacuum along z")
