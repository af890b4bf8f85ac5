"""The paper's nine 60-atom hexagonal sheets (graphene, hBN, graphene–hBN; pristine, single
vacancy, Stone–Wales) in its 12.53 × 13.02 × 10 Å cell, all atoms at z = 0 (NOTES §2).

The cell is a 5 × 3 supercell of the 4-atom rectangular honeycomb cell with a = 2.506 Å
(zigzag along x): A sites at (0, 0) and (a/2, 3d/2), B sites at (0, d) and (a/2, 5d/2), d = a/√3.
"""
from __future__ import annotations

import numpy as np
from ase import Atoms

A_LATTICE = 2.506  # Å, the paper's cell: 12.53 / 5 = 13.02 / (3√3)
REPEAT = (5, 3)
VACUUM_Z = 10.0  # Å, cell height

MATERIALS = ("graphene", "hbn", "heterostructure")
DEFECTS = ("pristine", "vacancy", "stone_wales")
STRUCTURE_TYPES = tuple(f"{m}_{d}" for m in MATERIALS for d in DEFECTS)


def _honeycomb(a: float = A_LATTICE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positions [60, 3], sublattice flags [60] (True = A site) and the cell [3, 3]."""
    d = a / np.sqrt(3.0)
    basis = np.array([[0.0, 0.0], [a / 2, 1.5 * d], [0.0, d], [a / 2, 2.5 * d]])
    is_a = np.array([True, True, False, False])
    nx, ny = REPEAT
    shifts = np.array([[i * a, j * 3 * d] for i in range(nx) for j in range(ny)])
    xy = (shifts[:, None, :] + basis[None, :, :]).reshape(-1, 2)
    positions = np.column_stack([xy, np.zeros(len(xy))])
    cell = np.diag([nx * a, ny * 3 * d, VACUUM_Z])
    return positions, np.tile(is_a, nx * ny), cell


def _symbols(material: str, positions: np.ndarray, is_a: np.ndarray, cell: np.ndarray) -> list[str]:
    """Graphene is all C; hBN has B on A sites, N on B sites; the heterostructure is graphene for
    x < L/2 and hBN beyond, two zigzag interfaces along y."""
    bn = np.where(is_a, "B", "N")
    if material == "graphene":
        return ["C"] * len(positions)
    if material == "hbn":
        return list(bn)
    if material == "heterostructure":
        return list(np.where(positions[:, 0] < cell[0, 0] / 2 - 0.1, "C", bn))
    raise ValueError(f"unknown material {material!r}; choose one of {MATERIALS}")


def _nearest(positions: np.ndarray, point: np.ndarray, mask: np.ndarray) -> int:
    """Index of the masked atom closest to `point` (no wrap needed: points are inside the cell)."""
    dist = np.linalg.norm(positions[:, :2] - point[:2], axis=1)
    return int(np.argmin(np.where(mask, dist, np.inf)))


def build_sheet(structure: str, a: float = A_LATTICE) -> Atoms:
    """One of STRUCTURE_TYPES, e.g. ``"hbn_vacancy"``, unrelaxed, periodic in x and y."""
    material, _, defect = structure.partition("_")
    if material not in MATERIALS or defect not in DEFECTS:
        raise ValueError(f"unknown structure {structure!r}; choose one of {STRUCTURE_TYPES}")
    positions, is_a, cell = _honeycomb(a)
    symbols = np.array(_symbols(material, positions, is_a, cell))
    # defects sit near the middle of the carbon region (hBN: of the cell)
    centre = np.array([cell[0, 0] * (0.25 if material == "heterostructure" else 0.5), cell[1, 1] / 2])
    if defect == "vacancy":  # hBN loses an N, the paper's Fig. 1c
        keep = np.ones(len(positions), bool)
        keep[_nearest(positions, centre, symbols == ("N" if material == "hbn" else "C"))] = False
        positions, symbols = positions[keep], symbols[keep]
    elif defect == "stone_wales":  # rotate one bond along y by 90° about its midpoint
        i = _nearest(positions, centre, is_a)
        j = _nearest(positions, positions[i] + [0.0, a / np.sqrt(3.0), 0.0], ~is_a)
        mid = (positions[i] + positions[j]) / 2
        for k in (i, j):
            dx, dy = positions[k, :2] - mid[:2]
            positions[k, :2] = mid[:2] + [-dy, dx]
    return Atoms(symbols=list(symbols), positions=positions, cell=cell, pbc=(True, True, False))
