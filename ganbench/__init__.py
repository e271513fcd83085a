"""ganbench: which GAN objective works best on the same DCGAN backbone, data and compute?

Convention used everywhere inside the package: images are float tensors of shape (B, C, H, W) with values in
[-1, 1]; data sets are stored as uint8 tensors of shape (N, C, H, W) with values in [0, 255].
"""

__version__ = "0.1.0"
