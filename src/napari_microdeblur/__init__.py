"""napari-microdeblur: deblur microscopy images with deep networks and classical deconvolution.

Importing the package is cheap on purpose: it must not import torch, Qt or napari.
"""

__version__ = "0.1.0"
