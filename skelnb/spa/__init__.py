"""SPA-Net, the spatial-perspective stream (Sec. 3.2): voxels (Eq. 8), sparse conv/pool (Eq. 9-10), SPA-3+1D/4D."""
from .net import KINDS, Costs, LayerCost, MultiScaleTemporal, SPABlock, SPAConfig, SPANet, sparse_costs
from .sparse import (BACKENDS, Rulebook, SparseConv, SparseMaxPool, SparseTensor, align, build_rulebook, dense_conv,
                     dense_max_pool, global_pool, load_spconv, make_spconv, resolve_backend, set_backend,
                     spconv_available, sparse_conv, sparse_max_pool)
from .voxel import Normalized, collision_table, normalize, voxel_stats, voxelize

__all__ = ["KINDS", "Costs", "LayerCost", "MultiScaleTemporal", "SPABlock", "SPAConfig", "SPANet", "sparse_costs",
           "BACKENDS", "Rulebook", "SparseConv", "SparseMaxPool", "SparseTensor", "align", "build_rulebook",
           "dense_conv", "dense_max_pool", "global_pool", "load_spconv", "make_spconv", "resolve_backend",
           "set_backend", "spconv_available", "sparse_conv", "sparse_max_pool",
           "Normalized", "collision_table", "normalize", "voxel_stats", "voxelize"]
