"""SparseConv and SparseMaxPool, which own the parameters, and the choice of the backend that runs them.

``backend='reference'``: :mod:`.reference`; ``'spconv'``: a spconv layer that *shares* the module's weight
and bias Parameter objects (switching ``module.backend`` needs no copy, gradients land in the same tensors);
``'auto'`` (the default): :func:`resolve_backend`. Its probe (:func:`spconv_problem`) runs a SparseConv,
so it lives here with the layers.
"""
from __future__ import annotations

import math
import warnings

import torch
import torch.nn as nn

from .convert import make_spconv
from .reference import max_by_rulebook, sparse_conv, sparse_max_pool
from .rulebook import _tuple
from .spconv_backend import (_SPCONV, _spconv_algo, _spconv_dtype, _spconv_input, spconv_available,
                             spconv_rulebook)
from .tensor import SparseTensor

BACKENDS = ("auto", "reference", "spconv")
_warned: set = set()                                                  # fallback messages already warned


def _warn_once(msg: str):
    if msg not in _warned:
        _warned.add(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=3)


def _device_name(device: torch.device) -> str:
    if device.type != "cuda":
        return str(device)
    major, minor = torch.cuda.get_device_capability(device)
    return f"{device} ({torch.cuda.get_device_name(device)}, sm_{major}{minor})"


def spconv_problem(device) -> str | None:
    """Why spconv cannot run on ``device`` (None: it can). The first call per device runs one
    small submanifold convolution (forward and backward, checked against the reference) and one
    max-pool there: an installed spconv may still have no kernels for the GPU (e.g. Blackwell,
    sm_120). Only CPU and CUDA devices are probed."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    if device.type not in ("cpu", "cuda"):
        return None
    if not spconv_available():
        return f"spconv is not available ({_SPCONV.get('error')})"
    probes = _SPCONV.setdefault("probe", {})
    if str(device) not in probes:
        try:
            g = torch.Generator().manual_seed(0)
            coords = torch.tensor([[0, 0, 0, 0], [0, 1, 0, 0], [0, 1, 1, 1], [1, 2, 2, 2]], dtype=torch.int32)
            x = SparseTensor(torch.randn(4, 2, generator=g).to(device), coords.to(device), (4, 4, 4), 2)
            conv = SparseConv(3, 2, 3, 3, subm=True, bias=True, backend="spconv").to(device)
            with torch.autocast(device.type, enabled=False), torch.enable_grad():
                y = conv(x)
                y.features.square().sum().backward()
                SparseMaxPool(3, 2, backend="spconv")(y)
                ref = sparse_conv(x, conv.weight, conv.bias, subm=True).features
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            err = float((y.features.detach() - ref.detach()).abs().max())
            probes[str(device)] = (None if err < 1e-3 and bool(torch.isfinite(conv.weight.grad).all())
                                   else f"its test convolution differs from the reference by {err:.2g}")
        except Exception as e:  # noqa: BLE001 -- any failure means: do not use it here
            probes[str(device)] = f"its test convolution failed: {type(e).__name__}: {str(e).strip()[:200]}"
        if probes[str(device)]:
            probes[str(device)] = f"spconv cannot run on {_device_name(device)}: {probes[str(device)]}"
    return probes[str(device)]


def resolve_backend(backend: str, *, subm: bool = False, kernel_size=(1,), ndim: int = 3,
                    device=None) -> str:
    """'auto'|'reference'|'spconv' -> the backend that will run: spconv only where it is installed
    and supports the layer (D <= 4; odd kernels for submanifold layers), and for 'auto' only where
    it passed :func:`spconv_problem`'s test on ``device``; otherwise the reference (with one
    warning per reason)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown sparse backend {backend!r}; use one of {BACKENDS}")
    if backend == "reference":
        return "reference"
    why = None
    if not spconv_available():
        why = f"spconv is not available ({_SPCONV.get('error')})"
    elif ndim > 4:
        why = f"spconv has no {ndim}-D layers"
    elif subm and any(k % 2 == 0 for k in kernel_size):
        why = f"spconv's submanifold convolution needs odd kernels, got {tuple(kernel_size)}"
    elif backend == "auto" and device is not None:
        why = spconv_problem(device)
    if why:
        _warn_once(f"sparse backend {backend!r}: {why}; using the reference implementation")
        return "reference"
    return "spconv"


class SparseConv(nn.Module):
    """Sparse convolution (Eq. 9) on a :class:`SparseTensor` with ``ndim`` dimensions.

    ``subm=True``: submanifold (output sites = input sites, padding implied); ``subm=False``:
    regular, with stride/padding/dilation as ``torch.nn.Conv{D}d``. Parameters: ``weight``
    (C_out, *kernel, C_in) -- spconv's layout, initialised like torch's convolutions -- and an
    optional ``bias``. ``backend``: 'auto' (spconv where possible), 'reference' or 'spconv'.
    Built in book/10_sparse_conv.ipynb.
    """

    def __init__(self, ndim: int, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, *, subm: bool = True, bias: bool = False, backend: str = "auto"):
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError(f"unknown sparse backend {backend!r}; use one of {BACKENDS}")
        self.ndim, self.in_channels, self.out_channels, self.subm = ndim, in_channels, out_channels, subm
        self.kernel_size = _tuple(kernel_size, ndim, "kernel_size")
        self.stride = _tuple(stride, ndim, "stride")
        self.padding = _tuple(padding, ndim, "padding")
        self.dilation = _tuple(dilation, ndim, "dilation")
        if subm and (any(s != 1 for s in self.stride) or any(self.padding)):
            raise ValueError("SparseConv: a submanifold layer has stride 1 and implied padding")
        self.backend = backend
        self.weight = nn.Parameter(torch.empty(out_channels, *self.kernel_size, in_channels))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()
        self.__dict__["_sp_layers"] = {}                              # spconv layers by device type (not submodules)

    def reset_parameters(self):
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))        # fan_in = C_in * prod(K), as torch
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_channels * math.prod(self.kernel_size))
            nn.init.uniform_(self.bias, -bound, bound)

    @property
    def indice_key(self) -> str:
        """spconv's cache key for a submanifold rulebook: same sites + kernel + dilation -> same pairs."""
        return f"subm_k{'x'.join(map(str, self.kernel_size))}_d{'x'.join(map(str, self.dilation))}"

    def active_backend(self, device=None) -> str:
        return resolve_backend(self.backend, subm=self.subm, kernel_size=self.kernel_size, ndim=self.ndim,
                               device=device)

    def _spconv_layer(self, device):
        layers = self.__dict__["_sp_layers"]
        if device.type not in layers:
            layers[device.type] = make_spconv(self, algo=_spconv_algo(device), copy=False)
        sp_layer = layers[device.type]
        sp_layer.weight = self.weight                                # the same Parameter objects
        sp_layer.bias = self.bias
        return sp_layer

    def forward(self, x: SparseTensor) -> SparseTensor:
        if x.ndim != self.ndim:
            raise ValueError(f"{type(self).__name__}: expected a {self.ndim}-D sparse tensor, got {x.ndim}-D")
        if x.num_channels != self.in_channels:
            raise ValueError(f"{type(self).__name__}: expected {self.in_channels} channels, got {x.num_channels}")
        if self.active_backend(x.device) == "reference":
            return sparse_conv(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.subm)
        feats, ctx = _spconv_dtype(x, self.weight)
        spx, ind = _spconv_input(x.replace(feats) if feats is not x.features else x)
        with ctx:
            out = self._spconv_layer(x.device)(spx)
        if self.subm:
            ind.update(out.indice_dict)                               # keep the pairs for the next layer
            return x.replace(out.features)
        return SparseTensor(out.features, out.indices, out.spatial_shape, x.batch_size, check=False)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, subm={self.subm}, "
             f"backend={self.backend!r}")
        if not self.subm:
            s += f", stride={self.stride}, padding={self.padding}"
        if any(d != 1 for d in self.dilation):
            s += f", dilation={self.dilation}"
        return s + (", bias=False" if self.bias is None else "")


class SparseMaxPool(nn.Module):
    """Sparse max-pooling (Eq. 10); stride defaults to the kernel size. Same backends as :class:`SparseConv`.

    Built in book/10_sparse_conv.ipynb."""

    def __init__(self, ndim: int, kernel_size, stride=None, padding=0, dilation=1, *, backend: str = "auto"):
        super().__init__()
        self.ndim = ndim
        self.kernel_size = _tuple(kernel_size, ndim, "kernel_size")
        self.stride = self.kernel_size if stride is None else _tuple(stride, ndim, "stride")
        self.padding = _tuple(padding, ndim, "padding")
        self.dilation = _tuple(dilation, ndim, "dilation")
        self.backend = backend

    def active_backend(self, device=None) -> str:
        return resolve_backend(self.backend, subm=False, kernel_size=self.kernel_size, ndim=self.ndim,
                               device=device)

    def forward(self, x: SparseTensor) -> SparseTensor:
        if x.ndim != self.ndim:
            raise ValueError(f"SparseMaxPool: expected a {self.ndim}-D sparse tensor, got {x.ndim}-D")
        if self.active_backend(x.device) == "reference":
            return sparse_max_pool(x, self.kernel_size, self.stride, self.padding, self.dilation)
        # spconv finds the output sites and pairs; the max itself is the shared max_by_rulebook, so
        # both backends pool with one tie rule (spconv's own kernel gives a tie's full gradient
        # to every tied input, and starts its max from 0)
        rb = spconv_rulebook(x, self.kernel_size, self.stride, self.padding, self.dilation)
        return SparseTensor(max_by_rulebook(x.features, rb), rb.out_coords, rb.out_shape, x.batch_size,
                            check=False)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, backend={self.backend!r}"


def set_backend(module: nn.Module, backend: str) -> nn.Module:
    """Set ``backend`` on every sparse layer inside ``module``; returns the module."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown sparse backend {backend!r}; use one of {BACKENDS}")
    for m in module.modules():
        if isinstance(m, (SparseConv, SparseMaxPool)):
            m.backend = backend
    return module


def sparse_layers(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, layer) of every SparseConv / SparseMaxPool inside module."""
    return [(n, m) for n, m in module.named_modules() if isinstance(m, (SparseConv, SparseMaxPool))]
