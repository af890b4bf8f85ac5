"""ase-cnnas: convolutional neural networks for atomistic systems (Ryczko et al. 2018) in ASE."""
from .calculator import CNNASCalculator
from .modelfile import ModelFileError, load_model, save_model

__all__ = ["CNNASCalculator", "ModelFileError", "load_model", "save_model"]
__version__ = "0.1.0"
