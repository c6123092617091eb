"""SEM-Net, the semantic-perspective stream (Sec. 3.1): GR-CFSA attention, MS-TFF, SEM-blocks."""
from .attention import MODES, POS_ENCODINGS, GRCFSA, positional_encoding
from .mstff import MSTFF, TABLE2, receptive_field, tff_config
from .net import SEMBlock, SEMConfig, SEMNet, fuse_scores

__all__ = ["GRCFSA", "MODES", "MSTFF", "TABLE2", "tff_config", "receptive_field", "SEMBlock", "SEMConfig",
           "SEMNet", "fuse_scores", "POS_ENCODINGS", "positional_encoding"]
