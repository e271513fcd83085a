"""The tiny run most tests train: 16x16, widths 8, 128 images, on the CPU (`images` is its conftest fixture)."""

from ganbench.config import Config, load_recipe, make_config

TINY = dict(
    resolution=16,
    g_width=8,
    d_width=8,
    latent_dim=8,
    batch_size=16,
    max_images=256,
    budget="128img",
    tick_kimg=0.064,
    device="cpu",
)


def tiny(variant: str = "dcgan", **kw) -> Config:
    return make_config(load_recipe(variant), **(TINY | kw))
