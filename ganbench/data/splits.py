"""Split names, and the rules that make a held-out selection split where a data set's source has none.

  train    what models train on
  val      held out of train: selection only (studies choose settings on it)
  test     held out of train and val: reported only
  heldout  every image not in train (val and test; the built-in set and the torchvision sets: test)
  all      every image

Which rule makes a data set's splits is its module's (CelebA: the official partition; the built-in set:
independent draws; a plain folder: a hash of each file's path, `ganbench.data.folder`); the rule shared by the
data sets that ship an official train/test split only (CIFAR-10, MNIST, Stacked MNIST) is here.
"""

from __future__ import annotations

TRAIN, VAL, TEST, HELDOUT, ALL = "train", "val", "test", "heldout", "all"
SPLITS = (TRAIN, VAL, TEST, HELDOUT, ALL)

# CIFAR-10 and MNIST have an official train and test split only. A selection split that no model trains on is
# held out of the official train split: every VAL_EVERY-th image of each class (500 per class for CIFAR-10), so
# `train` is the official train split without them, `val` those images, `test` (= `heldout`) the official test
# split, `all` train + val + test.
VAL_EVERY = 10

VAL_RULE = (
    f"val: every {VAL_EVERY}th image of each class of the official train split (index % {VAL_EVERY} = "
    f"{VAL_EVERY - 1} in the source's order), held out of train; test: the official test split"
)


def held_out(index: int) -> bool:
    """Whether the index-th image of a class (in the source's order) belongs to `val`, not `train`."""
    return index % VAL_EVERY == VAL_EVERY - 1
