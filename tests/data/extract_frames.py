"""Write tests/data/hbn_unseen_1000K_5frames.extxyz from data/hbn_unseen_1000K/frames.h5."""
from pathlib import Path

from ase.io import write

from training.h5data import read_frames

frames = read_frames("data/hbn_unseen_1000K/frames.h5")
write(Path(__file__).with_name("hbn_unseen_1000K_5frames.extxyz"),
      [frames.atoms(i) for i in (0, 50, 100, 150, 199)])
