"""Honeycomb B/C/N sheets for simulations and training data: graphene, hBN and the graphene–hBN
heterostructure, pristine or with a defect, in rectangular or hexagonal periodic cells.

A name reads ``material_defect[@cell]``, e.g. ``"hbn_vacancy"``, ``"graphene_pristine@hex6"``,
``"heterostructure_vacancy_b@10x6"``. Cells: ``"NxM"`` repeats the 4-atom rectangular cell
(zigzag along x) N times along x and M along y; ``"hexN"`` repeats the 2-atom hexagonal cell
(120° between a and b, as ``ase.build.graphene`` makes it) N × N. The default cell, ``5x3``, is
the paper's 12.53 × 13.02 Å, 60 atoms (a = 2.506 Å); its nine sheets are STRUCTURE_TYPES.
All atoms lie at z = 0, the cell is periodic in x and y.
"""
from __future__ import annotations

import re

import numpy as np
from ase import Atoms

A_LATTICE = 2.506  # Å, the paper's cell: 12.53 / 5 = 13.02 / (3√3)
REPEAT = (5, 3)
VACUUM_Z = 10.0  # Å, cell height

MATERIALS = ("graphene", "hbn", "heterostructure")
DEFECTS = ("pristine", "vacancy", "stone_wales")
STRUCTURE_TYPES = tuple(f"{m}_{d}" for m in MATERIALS for d in DEFECTS)
# Defect environments beyond the paper's nine: vacancies of each species in each region of the
# heterostructure, at and away from the interface, and a Stone–Wales defect in its hBN half.
MATERIAL_DEFECTS = {
    "graphene": DEFECTS,
    "hbn": DEFECTS + ("vacancy_b",),
    "heterostructure": DEFECTS + ("vacancy_b", "vacancy_n", "vacancy_interface",
                                  "stone_wales_bn"),
}
_CELL = re.compile(r"(?:(\d+)x(\d+)|hex(\d+))")


def parse_structure(structure: str) -> tuple[str, str, str]:
    """(material, defect, cell) of a sheet's name; ValueError naming the choices if unknown."""
    head, _, cell = structure.partition("@")
    material, _, defect = head.partition("_")
    cell = cell or "x".join(map(str, REPEAT))
    if defect not in MATERIAL_DEFECTS.get(material, ()):
        choices = {m: list(d) for m, d in MATERIAL_DEFECTS.items()}
        raise ValueError(f"unknown structure {structure!r}: name it material_defect[@cell] with "
                         f"material and defect from {choices}")
    match = _CELL.fullmatch(cell)
    if not match or not all(int(n) > 0 for n in match.groups() if n):
        raise ValueError(f"unknown structure {structure!r}: its cell {cell!r} must read 'NxM' "
                         "(rectangular, N × M 4-atom cells) or 'hexN' (N × N hexagonal cells)")
    if material == "heterostructure" and match[3]:
        raise ValueError(f"unknown structure {structure!r}: the heterostructure is built in "
                         "rectangular cells only ('NxM' with N ≥ 2)")
    return material, defect, cell


def _honeycomb(cell_name: str, a: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions [n, 3], sublattice flags [n] (True = A site) and the cell [3, 3]."""
    d = a / np.sqrt(3.0)  # the bond length
    rect = _CELL.fullmatch(cell_name)
    if rect[3]:  # hexagonal: a1 = (a, 0), a2 = (−a/2, a√3/2), B = (2a1 + a2)/3
        n = int(rect[3])
        vectors = np.array([[a, 0.0], [-a / 2, 1.5 * d]])
        basis, is_a = np.array([[0.0, 0.0], [a / 2, d / 2]]), np.array([True, False])
        repeats = (n, n)
    else:
        vectors = np.array([[a, 0.0], [0.0, 3 * d]])
        basis = np.array([[0.0, 0.0], [a / 2, 1.5 * d], [0.0, d], [a / 2, 2.5 * d]])
        is_a = np.array([True, True, False, False])
        repeats = (int(rect[1]), int(rect[2]))
    shifts = np.array([i * vectors[0] + j * vectors[1]
                       for i in range(repeats[0]) for j in range(repeats[1])])
    xy = (shifts[:, None, :] + basis[None, :, :]).reshape(-1, 2)
    cell = np.zeros((3, 3))
    cell[:2, :2] = vectors * np.array(repeats)[:, None]
    cell[2, 2] = VACUUM_Z
    if rect[3]:  # into the cell, which leans left
        frac = np.linalg.solve(cell[:2, :2].T, xy.T).T
        xy = (frac - np.floor(frac + 1e-9)) @ cell[:2, :2]
    return np.column_stack([xy, np.zeros(len(xy))]), np.tile(is_a, len(shifts)), cell


def _symbols(material: str, positions: np.ndarray, is_a: np.ndarray, cell: np.ndarray
             ) -> np.ndarray:
    """Graphene is all C; hBN has B on A sites, N on B sites; the heterostructure is graphene for
    x < L/2 and hBN beyond, two zigzag interfaces along y."""
    bn = np.where(is_a, "B", "N")
    if material == "graphene":
        return np.full(len(positions), "C")
    if material == "hbn":
        return bn
    return np.where(positions[:, 0] < cell[0, 0] / 2 - 0.1, "C", bn)


def _nearest(positions: np.ndarray, point: np.ndarray, mask: np.ndarray) -> int:
    """Index of the masked atom closest to `point` (no wrap needed: points are inside the cell)."""
    dist = np.linalg.norm(positions[:, :2] - point[:2], axis=1)
    return int(np.argmin(np.where(mask, dist, np.inf)))


def _defect_site(material: str, defect: str, cell: np.ndarray) -> np.ndarray:
    """Where a defect sits: the middle of the cell, of the heterostructure's carbon half, of its
    hBN half, or on its interface."""
    middle = (cell[0, :2] + cell[1, :2]) / 2
    if material != "heterostructure":
        return middle
    width = cell[0, 0]
    x = {"vacancy_interface": width / 2, "vacancy_b": 0.75 * width, "vacancy_n": 0.75 * width,
         "stone_wales_bn": 0.75 * width}.get(defect, 0.25 * width)
    return np.array([x, middle[1]])


def build_sheet(structure: str, a: float = A_LATTICE, vacuum: float = VACUUM_Z) -> Atoms:
    """The sheet `structure` (see the module docstring), unrelaxed, flat at z = 0, periodic in x
    and y, `vacuum` Å high."""
    material, defect, cell_name = parse_structure(structure)
    positions, is_a, cell = _honeycomb(cell_name, a)
    cell[2, 2] = vacuum
    symbols = _symbols(material, positions, is_a, cell)
    centre = _defect_site(material, defect, cell)
    if defect.startswith("vacancy"):  # hBN loses an N by default (the paper's Fig. 1c)
        species = {"vacancy_b": "B", "vacancy_n": "N"}.get(
            defect, "N" if material == "hbn" else "C")
        keep = np.ones(len(positions), bool)
        keep[_nearest(positions, centre, symbols == species)] = False
        positions, symbols = positions[keep], symbols[keep]
    elif defect.startswith("stone_wales"):  # rotate one bond along y by 90° about its midpoint
        mask = is_a & (symbols != "C") if defect == "stone_wales_bn" else is_a
        i = _nearest(positions, centre, mask)
        bond = a / np.sqrt(3.0)
        j = min((_nearest(positions, positions[i] + [0.0, s * bond, 0.0], ~is_a) for s in (1, -1)),
                key=lambda k: abs(np.linalg.norm(positions[k] - positions[i]) - bond)
                + abs(positions[k, 0] - positions[i, 0]))
        mid = (positions[i] + positions[j]) / 2
        for k in (i, j):
            dx, dy = positions[k, :2] - mid[:2]
            positions[k, :2] = mid[:2] + [-dy, dx]
    return Atoms(symbols=list(symbols), positions=positions, cell=cell, pbc=(True, True, False))
