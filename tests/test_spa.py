"""SPA-Net: voxelization (Eq. 8), sparse conv/pool (Eq. 9-10) against dense and spconv, SPA-3+1D/4D."""
import warnings

import pytest
import torch

from skelnb import profile
from skelnb.flops import count_macs
from skelnb.spa import (SPABlock, SPANet, SparseConv, SparseMaxPool, SparseTensor, align, build_rulebook, dense_conv,
                        dense_max_pool, global_pool, load_spconv, make_spconv, normalize, sparse_costs,
                        spconv_available, voxel_stats, voxelize)

needs_spconv = pytest.mark.skipif(not spconv_available(), reason="spconv is not installed")


pytestmark = pytest.mark.usefixtures("one_thread")


def skeletons(N=3, T=6, V=25, M=2, seed=0):
    """Random bodies: person 2 absent in sample 0, padding frames at the end of sample 1, a dropped joint."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(N, 3, T, V, M, generator=g) * 0.4 + torch.tensor([0.0, 1.0, 3.0]).view(1, 3, 1, 1, 1)
    if M > 1:
        x[0, ..., 1] = 0
    if N > 1:
        x[1, :, T - 2:] = 0
    x[-1, :, 0, 3, 0] = 0
    return x


def random_sparse(shape, C, density=0.3, B=2, signed=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(B, *shape, generator=g) < density
    dense = torch.randn(B, C, *shape, generator=g)
    if not signed:
        dense = dense.abs()
    dense = dense * mask[:, None]
    return SparseTensor.from_dense(dense, mask), dense, mask


# ============================================================================ voxelization
def test_voxels_round_trip_within_one_voxel():
    x = skeletons()
    for s in (8, 64):
        norm = normalize(x, s)
        st = voxelize(x, s)
        n, t, v, m = norm.mask.nonzero(as_tuple=True)
        vox = norm.voxels()[n, :, t, v, m]                             # (P, 3)
        assert (vox >= 0).all() and (vox < s).all()
        centre = norm.to_metres(vox.float() + 0.5, n)                  # voxel centre back in metres
        err = (centre - x[n, :, t, v, m]).abs() * norm.scale[n, None]   # in voxels
        assert err.max() <= 0.5 + 1e-4
        # the sites are exactly the distinct (n, x, y, z, t) of the valid points
        want = torch.unique(torch.stack([n, vox[:, 0], vox[:, 1], vox[:, 2], t], 1), dim=0)
        got = torch.unique(st.coords.long(), dim=0)
        assert torch.equal(got, want)
        assert st.spatial_shape == (s, s, s, x.shape[2]) and st.batch_size == x.shape[0]


def test_isotropic_scale_and_centring():
    x = skeletons(N=1, M=1)
    x[:, 1] *= 3                                                        # tall along y
    norm = normalize(x, 32)
    g = norm.grid[0].permute(1, 2, 3, 0)[norm.mask[0]]                  # (P, 3)
    ext = g.amax(0) - g.amin(0)
    assert ext[1] == pytest.approx(32, abs=1e-3)                        # longest axis spans s
    ratio = (x[0].permute(1, 2, 3, 0)[norm.mask[0]].amax(0) - x[0].permute(1, 2, 3, 0)[norm.mask[0]].amin(0))
    torch.testing.assert_close(ext / ext[1], ratio / ratio[1])          # aspect kept
    centre = (g.amax(0) + g.amin(0)) / 2
    torch.testing.assert_close(centre, torch.full((3,), 16.0))          # shorter axes centred


def test_missing_joints_and_padding_are_skipped():
    x = skeletons()
    st = voxelize(x, 64)
    c = st.coords.long()
    assert not ((c[:, 0] == 1) & (c[:, 4] >= x.shape[2] - 2)).any()     # padding frames of sample 1
    # features: one unit of mass per valid point, whatever the collisions
    assert st.features.sum() == pytest.approx(float((x != 0).any(1).sum()))
    assert st.num_channels == 25


def test_collisions_sum_vs_first_and_persons():
    x = torch.zeros(1, 3, 2, 25, 2)
    x[0, :, :, :, 0] = torch.linspace(0.1, 1, 25).expand(3, 2, 25)      # 25 joints on a diagonal
    x[0, :, 0, 1, 0] = x[0, :, 0, 0, 0] + 1e-4                          # joint 1 on joint 0's voxel, frame 0
    x[0, :, :, 5, 1] = x[0, :, :, 5, 0]                                 # person 2's joint 5 on person 1's
    x[0, :, :, 5, 1] += 1e-5
    s = voxelize(x, 16, collisions="sum")
    f = voxelize(x, 16, collisions="first")
    sep = voxelize(x, 16, persons="separate")
    assert s.num_active == f.num_active == sep.num_active
    assert s.features.sum() == 52 and f.features.sum() < 52
    row = (s.features[:, 0] > 0) & (s.coords[:, 4] == 0)
    assert s.features[row, :2].tolist() == [[1.0, 1.0]]                 # multi-hot: both joints kept
    assert f.features[(f.features[:, 0] > 0) & (f.coords[:, 4] == 0), :2].tolist() == [[1.0, 0.0]]
    assert s.features[:, 5].max() == 2                                  # shared channels: counts
    assert sep.num_channels == 50 and sep.features[:, 5].max() == 1 and sep.features[:, 30].max() == 1


def test_collisions_max_and_separate_persons_as_the_authors():
    x = torch.zeros(1, 3, 2, 25, 2)
    x[0, :, :, :, 0] = torch.linspace(0.1, 1, 25).expand(3, 2, 25)
    x[0, :, :, 5, 1] = x[0, :, :, 5, 0] + 1e-5                          # both persons' joint 5 in one voxel
    x[0, :, 0, 1, 0] = x[0, :, 0, 0, 0] + 1e-4                          # joints 0 and 1 in one voxel
    s, m = voxelize(x, 16, collisions="sum"), voxelize(x, 16, collisions="max")
    assert torch.equal(s.coords, m.coords) and s.features[:, 5].max() == 2
    torch.testing.assert_close(m.features, s.features.clamp(max=1))     # max: 0/1 multi-hot
    sep = voxelize(x, 16, persons="separate", collisions="max")
    assert sep.features[:, 5].max() == 1 and sep.features[:, 30].max() == 1
    one = voxelize(x[..., :1], 16, persons="separate", num_persons=2)   # one person, two channel groups
    assert one.num_channels == 50 and one.features[:, 25:].sum() == 0
    with pytest.raises(ValueError, match="num_persons=1"):
        voxelize(x, 16, persons="separate", num_persons=1)


def test_fixed_box_keeps_absolute_size():
    x = skeletons(N=1, M=1, T=4)
    small = x * 0.5                                                     # the same body at half the size
    both = torch.cat([x, small])
    per_sample = voxelize(both, 16)
    rows = per_sample.coords[:, 0]
    assert torch.equal(per_sample.coords[rows == 0, 1:], per_sample.coords[rows == 1, 1:])   # scale lost
    lo, hi = both.permute(0, 2, 3, 4, 1).reshape(-1, 3).amin(0), both.permute(0, 2, 3, 4, 1).reshape(-1, 3).amax(0)
    net = SPANet.quick("4d", num_classes=4, space=16, widths=(8,), box=(lo.tolist(), hi.tolist()), backend="reference")
    st = net.voxelize(both)
    ext = [(st.coords[st.coords[:, 0] == n, 1:4].amax(0) - st.coords[st.coords[:, 0] == n, 1:4].amin(0)).max()
           for n in (0, 1)]
    assert ext[1] < ext[0]                                              # the small body spans fewer voxels
    assert st.coords[:, 1:4].max() <= 15 and st.coords.min() >= 0
    with pytest.raises(ValueError, match="box must be"):
        SPANet.quick(box=((0, 0, 0), (1, -1, 1)))


def test_paper_size_input_and_readout_quick_unchanged():
    with torch.device("meta"):
        paper, quick = SPANet(), SPANet.quick()
        shrec = SPANet(layout="shrec22", num_classes=14)
    assert (paper.config.persons, paper.config.collisions, paper.config.readout) == ("separate", "max", "mean")
    assert paper.in_channels == 50 and paper.fc.in_features == paper.config.widths[-1]
    assert (quick.config.persons, quick.config.collisions, quick.config.readout) == ("shared", "sum", "mean+max")
    assert quick.in_channels == 25 and quick.fc.in_features == 2 * quick.config.widths[-1]
    assert shrec.in_channels == 44
    net = SPANet.quick("3+1d", num_classes=4, space=16, widths=(8, 16), readout="mean", backend="reference").eval()
    x = skeletons(N=2, T=6)
    with torch.no_grad():
        f = net.features(x)
        h = net.sparse_features(net.voxelize(x))
    torch.testing.assert_close(f, global_pool(h, "mean"))             # readout: global average pooling
    deeper = SPANet.quick("4d", widths=(8, 16), blocks=(2, 1))        # blocks per stage
    assert sum(isinstance(m, SPABlock) for m in deeper.stages[0]) == 2


def test_bone_points():
    x = skeletons(N=1, M=1)
    st = voxelize(x, 64, bone_points=2)
    n_valid = int((x != 0).any(1).sum())
    assert st.features.sum() > n_valid and st.num_channels == 25
    stats = voxel_stats(x, 64, 5, bone_points=2)
    assert stats["chain_reach"] >= stats["bone_reach"]


def test_batched_equals_one_by_one():
    x = skeletons(N=3)
    st = voxelize(x, 32)
    for n in range(3):
        one = voxelize(x[n:n + 1], 32)
        rows = st.coords[:, 0] == n
        assert torch.equal(st.coords[rows][:, 1:], one.coords[:, 1:])
        assert torch.equal(st.features[rows], one.features)


@pytest.mark.parametrize("bad, match", [
    (torch.zeros(2, 3, 4, 25), "expected"),                               # wrong rank
    (torch.zeros(2, 2, 4, 25, 2), "C=3"),
    (torch.zeros(0, 3, 4, 25, 2), "empty"),
    (torch.zeros(2, 3, 4, 25, 2), "no joint"),
    ("not an array", "tensor or array"),
])
def test_bad_input_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        voxelize(bad, 16)


@pytest.mark.parametrize("value, word", [(float("nan"), "NaN"), (float("inf"), "inf")])
def test_non_finite_input_errors(value, word):
    x = skeletons()
    x[1, 2, 3, 4, 0] = value
    with pytest.raises(ValueError, match=rf"{word}.*sample 1, coordinate z, frame 3, joint 4, person 0"):
        voxelize(x, 16)


def test_out_of_range_with_fixed_bounds():
    x = skeletons()
    bounds = ((-5, -5, -5), (5, 5, 5))
    st = voxelize(x, 16, bounds=bounds)
    assert st.coords[:, 1:4].max() < 16
    x[0, 0, 0, 0, 0] = 9.0
    with pytest.raises(ValueError, match="outside bounds"):
        voxelize(x, 16, bounds=bounds)
    st = voxelize(x, 16, bounds=bounds, clip=True)
    assert st.coords[:, 1:4].max() == 15
    with pytest.raises(ValueError, match="space"):
        voxelize(x, 0)
    with pytest.raises(ValueError, match="outside spatial_shape"):
        SparseTensor(torch.ones(1, 1), torch.tensor([[0, 4, 0]]), (4, 4))


# ============================================================================ sparse convolution
CONV_CASES = [  # (kernel, dilation, subm, stride, padding)
    (3, 1, True, 1, 0), (5, 1, True, 1, 0), (3, 2, True, 1, 0), (2, 1, True, 1, 0),
    (3, 1, False, 2, 1), (2, 1, False, 2, 0), (3, 2, False, 1, 1), ((3, 1, 1, 3), 1, False, (2, 1, 1, 2), 0),
]


def _case(D, case):
    k, d, subm, st, pd = case
    if isinstance(k, tuple):
        k, st = k[:D], st[:D]
    return k, d, subm, st, pd


def _grad_check_inputs(x: SparseTensor):
    f = x.features.detach().clone().requires_grad_(True)
    return x.replace(f), f


@pytest.mark.parametrize("D, shape", [(2, (9, 8)), (3, (7, 6, 8)), (4, (6, 5, 7, 6))])
@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_reference_matches_dense_conv(D, shape, case):
    k, d, subm, st, pd = _case(D, case)
    x, dense, mask = random_sparse(shape, 3, density=0.25)
    conv = SparseConv(D, 3, 4, k, 1 if subm else st, 0 if subm else pd, d, subm=subm, bias=True,
                      backend="reference").double()
    x = x.replace(x.features.double())
    xs, f = _grad_check_inputs(x)
    y = conv(xs)
    dense_in = xs.dense()
    yd = dense_conv(dense_in, conv.weight, conv.bias, 1 if subm else st, "same" if subm else pd, d)
    # output sites: the input's (subm) or exactly the dense outputs whose window sees an active input
    K = conv.kernel_size
    reach = dense_conv(mask[:, None].double(), torch.ones(1, *K, 1, dtype=torch.double), None,
                       1 if subm else st, "same" if subm else pd, d)[:, 0] > 0
    if subm:
        assert torch.equal(y.coords, x.coords)
    else:
        assert y.num_active == int(reach.sum())
    c = y.coords.long()
    at = yd.permute(0, *range(2, D + 2), 1)[tuple(c.T)]
    torch.testing.assert_close(y.features, at)
    # gradients: a random linear loss on the active outputs
    w = torch.randn_like(y.features)
    g_sparse = torch.autograd.grad((y.features * w).sum(), [f, conv.weight, conv.bias])
    g_dense = torch.autograd.grad((at * w).sum(), [f, conv.weight, conv.bias])
    for a, b in zip(g_sparse, g_dense):
        torch.testing.assert_close(a, b)


@needs_spconv
@pytest.mark.parametrize("D, shape", [(3, (7, 6, 8)), (4, (6, 5, 7, 6))])
@pytest.mark.parametrize("case", [c for c in CONV_CASES if not (c[2] and c[0] % 2 == 0)], ids=str)
def test_spconv_matches_reference(D, shape, case):
    k, d, subm, st, pd = _case(D, case)
    x, _, _ = random_sparse(shape, 3, density=0.25)
    conv = SparseConv(D, 3, 4, k, 1 if subm else st, 0 if subm else pd, d, subm=subm, bias=True, backend="reference")
    outs, grads = [], []
    for backend in ("reference", "spconv"):
        conv.backend = backend
        conv.zero_grad()
        xs, f = _grad_check_inputs(SparseTensor(x.features, x.coords, x.spatial_shape, x.batch_size))
        y = conv(xs)
        w = torch.randn(y.num_active, 4, generator=torch.Generator().manual_seed(1))
        order = torch.argsort(y.keys())
        (y.features[order] * w).sum().backward()
        outs.append(y)
        grads.append((f.grad, conv.weight.grad.clone(), conv.bias.grad.clone()))
    a, b = align(*outs)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    for ga, gb in zip(*grads):
        torch.testing.assert_close(ga, gb, atol=1e-5, rtol=1e-5)


@needs_spconv
def test_weights_convert_between_backends():
    conv = SparseConv(4, 3, 5, 3, subm=True, bias=True, backend="reference")
    layer = make_spconv(conv)                                           # a stand-alone spconv layer (copy)
    assert type(layer).__name__ == "SubMConv4d"
    torch.testing.assert_close(layer.weight, conv.weight)
    x, _, _ = random_sparse((5, 5, 5, 5), 3)
    import spconv.pytorch as sp
    out = layer(sp.SparseConvTensor(x.features, x.coords, list(x.spatial_shape), x.batch_size))
    torch.testing.assert_close(out.features, conv(x).features, atol=1e-5, rtol=1e-5)
    other = SparseConv(4, 3, 5, 3, subm=True, bias=True)
    load_spconv(other, layer)
    torch.testing.assert_close(other.weight, conv.weight)
    # the module's own spconv path shares its Parameters (no copy, gradients land in conv.weight)
    conv.backend = "spconv"
    conv(x).features.sum().backward()
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0


def test_even_submanifold_kernel_falls_back_to_reference():
    conv = SparseConv(3, 2, 2, 2, subm=True, backend="spconv")
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        assert conv.active_backend() == "reference"


def test_rulebook_pairs_are_eq9_neighbours():
    coords = torch.tensor([[0, 1, 1], [0, 2, 1], [0, 3, 3], [1, 1, 1]])
    rb = build_rulebook(coords, (5, 5), 3, subm=True)
    pairs = {(int(i), int(o), k) for k in range(9) for i, o in zip(*rb.pairs(k))}
    # input 1 at (2,1) feeds output 0 at (1,1) through offset (2,1) (-> index 7); never across samples
    assert (1, 0, 7) in pairs and (0, 1, 1) in pairs
    assert all(int(coords[i, 0]) == int(coords[o, 0]) for i, o, _ in pairs)
    assert rb.num_pairs == 4 + 2                                        # 4 centres + the (1,1)-(2,1) pair both ways


# ============================================================================ pooling
@pytest.mark.parametrize("D, shape, k, st, pd", [(3, (8, 7, 6), 2, 2, 0), (3, (8, 7, 6), 3, 2, 1),
                                                 (4, (6, 6, 5, 7), 2, 2, 0), (4, (6, 6, 5, 7), 3, 2, 1)])
def test_reference_pool_matches_dense_max_pool(D, shape, k, st, pd):
    x, _, mask = random_sparse(shape, 3, density=0.2)                  # signed features
    y = SparseMaxPool(D, k, st, pd, backend="reference")(x)
    yd = dense_max_pool(x.dense(fill=float("-inf")), k, st, pd)
    c = y.coords.long()
    assert y.num_active == int((yd[:, 0] > float("-inf")).sum())        # active outputs = windows with a site
    torch.testing.assert_close(y.features, yd.permute(0, *range(2, D + 2), 1)[tuple(c.T)])


@needs_spconv
@pytest.mark.parametrize("D, shape", [(3, (8, 7, 6)), (4, (6, 6, 5, 7))])
def test_spconv_pool_matches_reference(D, shape):
    x, _, _ = random_sparse(shape, 3, density=0.2)                    # signed: negative maxima kept on both
    grads, outs = [], []
    for backend in ("reference", "spconv"):
        xs, f = _grad_check_inputs(x)
        y = SparseMaxPool(D, 2, 2, backend=backend)(xs)
        order = torch.argsort(y.keys())
        (y.features[order] * torch.arange(1.0, 1 + y.num_active)[:, None]).sum().backward()
        outs.append(y)
        grads.append(f.grad)
    a, b = align(*outs)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(grads[0], grads[1])


def _first_max_pool4d(x: torch.Tensor) -> torch.Tensor:
    """Dense 4D max-pool, kernel = stride = 2, whose gradient goes to the *first* maximum in the
    window's row-major order (torch.max(dim) returns the first maximal index), as max_pool3d does."""
    B, C, X, Y, Z, T = x.shape
    w = x.reshape(B, C, X // 2, 2, Y // 2, 2, Z // 2, 2, T // 2, 2).permute(0, 1, 2, 4, 6, 8, 3, 5, 7, 9)
    return w.reshape(B, C, X // 2, Y // 2, Z // 2, T // 2, 16).max(-1).values


@pytest.mark.parametrize("D, shape", [(3, (6, 4, 6)), (4, (4, 6, 4, 6))])
@pytest.mark.parametrize("backend", ["reference", pytest.param("spconv", marks=needs_spconv)])
def test_pool_ties_first_input_gets_the_gradient(D, shape, backend):
    # features from {-1, 0, 1} at a dense active set: most windows hold exact ties
    g = torch.Generator().manual_seed(3)
    mask = torch.rand(2, *shape, generator=g) < 0.6
    dense = torch.randint(-1, 2, (2, 2, *shape), generator=g).float() * mask[:, None]
    x = SparseTensor.from_dense(dense, mask)
    xs, f = _grad_check_inputs(x)
    y = SparseMaxPool(D, 2, 2, backend=backend)(xs)
    wt = torch.randn(y.features.shape, generator=g)
    ys = y.features[torch.argsort(y.keys())]                            # key order = dense order
    (ys * wt).sum().backward()
    # dense reference with the first-in-window rule (inactive sites -inf, never chosen)
    fd = x.features.detach().clone().requires_grad_(True)
    xd = x.replace(fd).dense(fill=float("-inf"))
    yd = dense_max_pool(xd, 2, 2) if D == 3 else _first_max_pool4d(xd)
    keep = yd[:, 0] > float("-inf")                                      # windows with an active site
    ydf = yd.permute(0, *range(2, D + 2), 1)[keep]                      # (P_out, C), key order
    torch.testing.assert_close(ys, ydf)
    (ydf * wt).sum().backward()
    assert torch.equal(f.grad, fd.grad)                                  # same input, same share, exactly
    ties = (f.grad == 0) & (x.features == y.features.max())             # a tied maximum left out
    assert ties.any() and set(f.grad.unique().tolist()) - {0.0} <= set(wt.flatten().tolist())


def test_global_pool():
    x, _, _ = random_sparse((4, 4, 4), 3, B=3)
    for mode, fn in (("mean", lambda f: f.mean(0)), ("max", lambda f: f.amax(0))):
        g = global_pool(x, mode)
        for b in range(3):
            torch.testing.assert_close(g[b], fn(x.features[x.coords[:, 0] == b]))


# ============================================================================ SPA-Net
def tiny(kind, backend, **kw):
    return SPANet.quick(kind, num_classes=4, space=16, kernel=3, widths=(8, 16), backend=backend, **kw)


@pytest.mark.parametrize("kind", ["3+1d", "4d"])
@pytest.mark.parametrize("backend", ["reference", pytest.param("spconv", marks=needs_spconv)])
def test_nets_fit_a_tiny_batch(kind, backend):
    torch.manual_seed(0)
    x, y = skeletons(N=4, T=8, seed=1), torch.tensor([0, 1, 2, 3])
    net = tiny(kind, backend)
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(40):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
    assert loss.item() < 0.05


@needs_spconv
@pytest.mark.parametrize("kind", ["3+1d", "4d"])
def test_backends_agree_on_a_whole_net(kind):
    # Training mode on real one-hot input of bodies that stand still: consecutive frames away
    # from the ends have identical features, so max-pool windows meet exact ties at positive
    # values (non-zero gradient). One tie rule on both backends -> the same gradients.
    net = tiny(kind, "reference").train()
    x = skeletons(N=3, T=8)
    x[:, :, 1:6] = x[:, :, :1]                                         # static frames 0-5
    st = net.voxelize(x)
    h = net.stages[0](net.stem(st).replace(torch.relu(net.stem_bn(net.stem(st).features))))
    rb = build_rulebook(h.coords, h.spatial_shape, 2, 2, 0, 1, subm=False)
    src = h.features[rb.in_idx]
    top = torch.zeros(len(rb.out_coords), src.shape[1]).scatter_reduce(0, rb.out_idx[:, None].expand_as(src), src,
                                                                       "amax", include_self=False)
    hits = torch.zeros_like(top).index_add_(0, rb.out_idx, (src == top[rb.out_idx]).float())
    assert ((hits > 1) & (top > 0)).any()                                # ties with a gradient are there
    outs, grads = [], []
    for backend in ("reference", "spconv"):
        net.set_backend(backend).zero_grad()
        out = net(SparseTensor(st.features, st.coords, st.spatial_shape, st.batch_size))
        out.square().sum().backward()
        outs.append(out)
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
    torch.testing.assert_close(outs[0], outs[1], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(grads[0], grads[1], atol=1e-3, rtol=1e-3)


# ============================================================================ mixed precision
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_reference_conv_under_autocast(dtype):
    x, _, _ = random_sparse((5, 6, 5, 6), 4, density=0.3)
    conv = SparseConv(4, 4, 8, 3, subm=True, backend="reference")
    ref = conv(x).features
    xs, f = _grad_check_inputs(x)
    with torch.autocast("cpu", dtype=dtype):
        y = conv(xs).features
    assert y.dtype == torch.float32                                      # low-precision products, fp32 sum
    torch.testing.assert_close(y, ref, atol=5e-2, rtol=5e-2)
    y.sum().backward()
    assert torch.isfinite(f.grad).all() and torch.isfinite(conv.weight.grad).all()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("kind", ["3+1d", "4d"])
@pytest.mark.parametrize("backend", ["reference", pytest.param("spconv", marks=needs_spconv)])
def test_nets_train_under_cpu_autocast(kind, backend, dtype):
    torch.manual_seed(0)
    net = tiny(kind, backend).eval()                                     # eval: BN statistics fixed
    x = skeletons(N=2, T=8)
    with torch.no_grad():
        ref = net(x)
    with torch.autocast("cpu", dtype=dtype):
        out = net(x)
        loss = torch.nn.functional.cross_entropy(out, torch.tensor([0, 1]))
    loss.backward()
    torch.testing.assert_close(out.float(), ref, atol=0.1, rtol=0.1)
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


def test_costs_match_flop_counter():
    net = tiny("3+1d", "reference").eval()
    x = skeletons(N=2, T=8)
    costs = sparse_costs(net, x)
    fc = net.fc.in_features * net.fc.out_features * x.shape[0]
    assert costs.macs + fc == count_macs(net, x, meta=False)            # the reference's matmuls, counted
    assert costs.dense_macs > 10 * costs.macs and costs.dense_bytes > 10 * costs.feature_bytes  # a 16^3 x 8 grid


@pytest.mark.parametrize("kind", ["3+1d", "4d"])
def test_quick_profile_models_run_on_cpu(kind):
    prof = profile.current()
    torch.set_num_threads(1)                                            # current() set the profile's threads
    net = SPANet.quick(kind, num_frames=prof.num_frames)
    x = skeletons(N=2, T=prof.num_frames)
    with torch.no_grad():
        out = net.eval()(x)
    assert out.shape == (2, 60) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="V=25"):
        net(torch.zeros(2, 3, 8, 22, 2))


def test_figures_build():
    import numpy as np

    from skelnb.data.layouts import NTU25
    from skelnb.spa import viz as spa_viz
    x = skeletons(N=2, T=4)
    st = voxelize(x, 16)
    fig = spa_viz.voxel_frames(st, norm=normalize(x, 16), sample=1)
    assert len(fig.frames) == len(torch.unique(st.coords[st.coords[:, 0] == 1, 4]))
    assert len(spa_viz.voxel_sequence(st).data) == 1
    coords = torch.tensor([[0, 1, 1], [0, 2, 2], [0, 4, 1]])
    rb = build_rulebook(coords, (6, 6), 3)
    fig = spa_viz.rulebook_figure(coords, coords, rb, (6, 6))
    assert len(fig.data) == 2 + 9 and len(fig.layout.sliders[0].steps) == 1 + 9
    net = tiny("4d", "reference")
    acts = net.activations(x)
    assert len(spa_viz.activation_figure(acts[-1]).frames) >= 1
    fig = spa_viz.activation_figure(acts, normalize(x, 16), sample=1)       # both stages, skeleton of sample 1
    n_skel = len(NTU25.parts) + 1
    persons = int(normalize(x, 16).mask[1].any(dim=(0, 1)).sum())
    labels = [b.label for b in fig.layout.updatemenus[0].buttons]
    assert labels == [f"stage {i + 1}, grid {tuple(a.spatial_shape)}" for i, a in enumerate(acts)]
    assert [t.name for t in fig.data[:n_skel - 1]] == list(NTU25.parts)    # the skeleton under the activations
    assert len(fig.data) == persons * n_skel + len(acts)
    assert fig.layout.updatemenus[0].buttons[1].args[0]["visible"] == [True] * persons * n_skel + [False, True]
    T = x.shape[2]
    assert len(fig.frames) == T and [s.label for s in fig.layout.sliders[0].steps] == [str(t) for t in range(T)]
    for l, a in enumerate(acts):                                             # sites at their centres, input voxels
        rows = (a.coords[:, 0] == 1) & (a.coords[:, 4] == 0)
        c = (a.coords[rows, 1:4].float() + 0.5) * 16 / a.spatial_shape[0]
        mag = a.features[a.coords[:, 0] == 1].norm(dim=1)
        tr = fig.data[persons * n_skel + l]
        assert sorted(zip(tr.x, tr.y, tr.z)) == sorted(map(tuple, c.tolist()))
        rel = (a.features[rows].norm(dim=1) / mag.mean()).detach().numpy()
        assert np.allclose(sorted(tr.marker.color), sorted(rel), atol=1e-3)  # |f| / mean |f|: 1 = average site
        assert tr.marker.cmax == pytest.approx(float((mag / mag.mean()).max()), abs=1e-6)
        assert "mean" in tr.marker.colorbar.title.text
