"""Write tests/data/hbn_unseen_1000K_5frames.extxyz from data/hbn_unseen_1000K/frames.h5."""
from pathlib import Path

from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from training.h5data import read_frames

frames = read_frames("data/hbn_unseen_1000K/frames.h5")
off = frames.offsets
images = []
for i in (0, 50, 100, 150, 199):
    atoms = Atoms(numbers=frames.numbers[off[i]:off[i + 1]], positions=frames.positions[off[i]:off[i + 1]],
                  cell=frames.cell[i], pbc=frames.pbc[i])
    atoms.calc = SinglePointCalculator(atoms, energy=frames.energy[i], forces=frames.forces[off[i]:off[i + 1]])
    images.append(atoms)
write(Path(__file__).with_name("hbn_unseen_1000K_5frames.extxyz"), images)
