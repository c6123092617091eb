"""Sparse tensors, sparse convolution (Eq. 9) and sparse max-pooling (Eq. 10), on two backends.

tensor.py          the sparse tensor (Eq. 8): active sites R (P, 1 + D) and their features F (P, C)
rulebook.py        which input feeds which output through which kernel offset
reference.py       Eq. 9 and 10 in plain PyTorch on a rulebook (the reference backend); global pooling
dense.py           the same layers on dense grids (D = 1..4), to check against
spconv_backend.py  the spconv 2.x glue: import, dtypes, spconv's rulebook
convert.py         SparseConv <-> stand-alone spconv layers
modules.py         SparseConv, SparseMaxPool and which backend runs them ('auto' probes spconv per device)
"""
from .convert import load_spconv, make_spconv
from .dense import dense_conv, dense_max_pool
from .modules import (BACKENDS, SparseConv, SparseMaxPool, resolve_backend, set_backend, sparse_layers,
                      spconv_problem)
from .reference import global_pool, max_by_rulebook, sparse_conv, sparse_max_pool
from .rulebook import Rulebook, build_rulebook, kernel_offsets, rulebook
from .spconv_backend import spconv_available
from .tensor import SparseTensor, align, delinearize, linearize

__all__ = ["load_spconv", "make_spconv", "dense_conv", "dense_max_pool", "BACKENDS", "SparseConv", "SparseMaxPool",
           "resolve_backend", "set_backend", "sparse_layers", "spconv_problem", "global_pool", "max_by_rulebook",
           "sparse_conv", "sparse_max_pool", "Rulebook", "build_rulebook", "kernel_offsets", "rulebook",
           "spconv_available", "SparseTensor", "align", "delinearize", "linearize"]
