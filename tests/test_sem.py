"""SEM-Net: attention modes against naive references, MS-TFF, costs vs. Tables 1-2, training."""
import math
import time

import pytest
import torch
import torch.nn.functional as F

from skelnb.data.layouts import NTU25, SHREC22, to_bones
from skelnb.flops import count_macs, count_params
from skelnb.sem import (GRCFSA, MODES, MSTFF, POS_ENCODINGS, TABLE2, SEMConfig, SEMNet, fuse_scores,
                        positional_encoding, receptive_field, tff_config)


pytestmark = pytest.mark.usefixtures("one_thread")


N, C, T, V, S, CE, COUT = 2, 6, 5, 7, 3, 4, 8


def layer(mode, reduce="mean"):
    return GRCFSA(C, COUT, CE, S, mode, num_joints=V, reduce=reduce).double()


def embeddings(att, x):
    """f1, f2 (N, S, Ce, T, V) straight from the 1x1 conv weights (independent of att.embed)."""
    w = att.f12.weight[:, :, 0, 0].view(2, S, CE, C)
    b = att.f12.bias.view(2, S, CE)
    f = torch.einsum("ksec,nctv->knsetv", w, x) + b[:, None, :, :, None, None]
    return f[0], f[1]


def mix(att, heads):  # heads: list over s of (N, C, T, V)
    return att.mix(torch.cat(heads, dim=1))


x0 = torch.randn(N, C, T, V, dtype=torch.float64)


# ---------------------------------------------------------------- attention modes
@pytest.mark.parametrize("mode", MODES)
def test_attention_shapes(mode):
    att = layer(mode)
    assert att(x0).shape == (N, COUT, T, V)
    w = att.weights(x0)
    want = {"unified": (N, S, T * V, T * V), "single-frame": (N, S, T, V, V)}.get(mode, (N, S, V, V))
    assert w.shape == want
    torch.testing.assert_close(w.sum(-1), torch.ones(want[:-1], dtype=w.dtype))


def test_single_frame_matches_per_frame_loop():
    att = layer("single-frame")
    f1, f2 = embeddings(att, x0)
    heads = []
    for s in range(S):
        out = torch.zeros(N, C, T, V, dtype=x0.dtype)
        for n in range(N):
            for t in range(T):
                a = (f1[n, s, :, t, :].T @ f2[n, s, :, t, :]) / math.sqrt(CE)   # (V, V) Eq. 5
                out[n, :, t, :] = x0[n, :, t, :] @ torch.softmax(a, -1).T      # Eq. 4
        heads.append(out)
    torch.testing.assert_close(att(x0), mix(att, heads))


@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_cross_frame_weights_are_product_of_temporal_pools(reduce):
    att = layer("cross-frame", reduce)
    f1, f2 = embeddings(att, x0)
    s1, s2 = f1.sum(dim=3), f2.sum(dim=3)                                       # (N, S, Ce, V)
    logits = torch.einsum("nscu,nscv->nsuv", s1, s2) / math.sqrt(CE)             # Eq. 6
    if reduce == "mean":
        logits = logits / T ** 2
    torch.testing.assert_close(att.weights(x0), torch.softmax(logits, -1))
    # ... and not the DSTA-style sum of per-frame products
    dsta = torch.einsum("nsctu,nsctv->nsuv", f1, f2) / math.sqrt(CE)
    assert not torch.allclose(att.weights(x0), torch.softmax(dsta, -1))


def test_unified_matches_full_attention_over_all_tokens():
    att = layer("unified")
    f1, f2 = embeddings(att, x0)
    heads = []
    for s in range(S):
        out = torch.zeros(N, C, T, V, dtype=x0.dtype)
        for n in range(N):
            q = f1[n, s].permute(1, 2, 0).reshape(T * V, CE)                     # token (t, v)
            k = f2[n, s].permute(1, 2, 0).reshape(T * V, CE)
            w = torch.softmax(q @ k.T / math.sqrt(CE), -1)                         # Eq. 2-3
            xv = x0[n].permute(1, 2, 0).reshape(T * V, C)
            out[n] = (w @ xv).reshape(T, V, C).permute(2, 0, 1)
        heads.append(out)
    torch.testing.assert_close(att(x0), mix(att, heads))


def test_unified_fused_forward_equals_weights_then_aggregate():
    # forward uses scaled_dot_product_attention; weights() + aggregate() is the readable form
    att = layer("unified")
    xa = x0.clone().requires_grad_(True)
    xb = x0.clone().requires_grad_(True)
    ya = att(xa)
    yb = att.mix(att.aggregate(xb, att.weights(xb)).reshape(N, S * C, T, V))
    torch.testing.assert_close(ya, yb)
    g = torch.randn_like(ya)
    ga = torch.autograd.grad(ya, [xa, att.f12.weight], g)
    gb = torch.autograd.grad(yb, [xb, att.f12.weight], g)
    for a, b in zip(ga, gb):
        torch.testing.assert_close(a, b)


def test_global_regularisation_alone_is_shared_global_attention():
    att = layer("cross-frame+GR")
    with torch.no_grad():
        att.beta.zero_()
        att.alpha_hat.copy_(torch.randn(S, V, V))
    g = torch.softmax(att.alpha_hat.detach(), -1)                                # (S, V, V)
    torch.testing.assert_close(att.weights(x0), g.expand(N, S, V, V))
    heads = [torch.einsum("uv,nctv->nctu", g[s], x0) for s in range(S)]
    torch.testing.assert_close(att(x0), mix(att, heads))
    # beta = 1 again: Eq. 7 = cross-frame logits + alpha_hat
    with torch.no_grad():
        att.beta.fill_(1.0)
    f1, f2 = embeddings(att, x0)
    logits = torch.einsum("nscu,nscv->nsuv", f1.mean(3), f2.mean(3)) / math.sqrt(CE) + att.alpha_hat
    torch.testing.assert_close(att.weights(x0), torch.softmax(logits, -1))


@pytest.mark.parametrize("mode", ["cross-frame", "cross-frame+GR", "single-frame"])
def test_aggregation_stays_within_each_frame(mode):
    # +d at frame t2 and -d at frame t3 leaves every temporal sum of the (affine) embeddings, hence
    # the cross-frame weights, unchanged; frames other than t2, t3 must then be untouched.
    att = layer(mode)
    t1, t2, t3 = 0, 2, 4
    d = torch.randn(N, C, V, dtype=x0.dtype)
    x1 = x0.clone()
    x1[:, :, t2] += d
    x1[:, :, t3] -= d
    y0, y1 = att(x0), att(x1)
    if mode != "single-frame":
        torch.testing.assert_close(att.weights(x1), att.weights(x0))
    keep = [t for t in range(T) if t not in (t2, t3)]
    torch.testing.assert_close(y1[:, :, keep], y0[:, :, keep])
    assert not torch.allclose(y1[:, :, t2], y0[:, :, t2])
    # with the weights frozen, frame t1's output ignores any change of the other frames
    w = att.weights(x0)
    x2 = x0.clone()
    x2[:, :, t2] += 10 * torch.randn(N, C, V, dtype=x0.dtype)
    torch.testing.assert_close(att.aggregate(x2, w)[:, :, :, t1], att.aggregate(x0, w)[:, :, :, t1])


def test_unified_mixes_frames():  # the contrast to the test above
    att = layer("unified")
    d = torch.randn(N, C, V, dtype=x0.dtype)
    x1 = x0.clone()
    x1[:, :, 2] += d
    x1[:, :, 4] -= d
    assert not torch.allclose(att(x1)[:, :, 0], att(x0)[:, :, 0])


def test_attention_rejects_bad_config():
    with pytest.raises(ValueError, match="mode"):
        GRCFSA(4, 4, 2, mode="full")
    with pytest.raises(ValueError, match="num_joints"):
        GRCFSA(4, 4, 2, mode="cross-frame+GR")
    with pytest.raises(ValueError, match="expected 7 joints"):
        layer("cross-frame+GR")(torch.randn(1, C, T, 5, dtype=torch.float64))


# ---------------------------------------------------------------- MS-TFF
def test_mstff_shape_and_stride():
    m = MSTFF(8, 16, stride=2)
    assert m(torch.randn(2, 8, 17, 5)).shape == (2, 16, 9, 5)
    assert MSTFF(8, 8, **tff_config("k=9"))(torch.randn(1, 8, 6, 3)).shape == (1, 8, 6, 3)
    with pytest.raises(ValueError, match="divisible"):
        MSTFF(8, 10)
    with pytest.raises(ValueError, match="Table 2 rows"):
        tff_config("k=5")


def test_mstff_param_order_of_table2():
    p = {row: count_params(MSTFF(64, 64, **tff_config(row))) for row in TABLE2}
    assert p["k=9"] > p["k=3"] > p["k=(3,5,7,9)"] > p["d=(1,3,5,7)"]


@pytest.mark.parametrize("row", list(TABLE2))
def test_mstff_impulse_response_matches_receptive_field(row):
    cfg = tff_config(row)
    B, Tn, t0 = len(cfg["kernels"]), 41, 20
    m = MSTFF(4, 4 * B, **cfg).eval()
    with torch.no_grad():
        for conv in [m.split[0], *m.branches]:
            conv.weight.fill_(1.0)                                               # all taps positive
    x = torch.zeros(1, 4, Tn, 1)
    x[0, :, t0] = 1.0
    y = m(x)[0, :, :, 0]                                                         # (C_out, T)
    for b, (k, d) in enumerate(zip(cfg["kernels"], cfg["dilations"])):
        hit = set(torch.nonzero(y[b * 4:(b + 1) * 4].abs().sum(0)).flatten().tolist())
        assert hit == {t0 + d * (j - (k - 1) // 2) for j in range(k)}               # dilated taps
    support = torch.nonzero(y.abs().sum(0)).flatten()
    assert int(support.max() - support.min()) + 1 == receptive_field(**cfg) == m.receptive_field
    assert receptive_field(**tff_config("d=(1,3,5,7)")) == 15
    assert receptive_field(**tff_config("k=(3,5,7,9)")) == 9


# ---------------------------------------------------------------- SEM-Net costs (meta device)
def cost(**kw):
    m = SEMNet(**kw)
    return count_params(m), count_macs(m, torch.zeros(1, 3, m.num_frames, 25, 2))


def test_default_matches_paper_budget():
    m = SEMNet()
    assert m.num_frames == SEMConfig().num_frames == 128
    params, macs = cost()
    assert abs(params / 4.8e6 - 1) < 0.10, params
    assert abs(macs / 7.4e9 - 1) < 0.10, macs


def test_table1_costs():
    g = {mode: cost(attention=mode)[1] for mode in MODES}
    assert g["unified"] > g["single-frame"] > g["cross-frame"] == g["cross-frame+GR"]
    assert 3 < g["unified"] / g["cross-frame"] < 8
    assert g["single-frame"] / g["cross-frame"] < 1.1


def test_table2_costs():
    c = {row: cost(tff=row) for row in TABLE2}
    for i in (0, 1):   # params, then multiply-adds
        assert c["k=9"][i] > c["k=3"][i] > c["k=(3,5,7,9)"][i] > c["d=(1,3,5,7)"][i]


# ---------------------------------------------------------------- SEM-Net behaviour
def test_quick_model_fits_a_tiny_batch():
    torch.manual_seed(0)
    m = SEMNet.quick(num_classes=4, num_frames=16)
    x = torch.randn(8, 3, 16, 25, 2)
    y = torch.arange(8) % 4
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    t0 = time.perf_counter()
    for _ in range(60):
        opt.zero_grad()
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
    assert time.perf_counter() - t0 < 10
    assert loss.item() < 0.05, loss.item()


@pytest.mark.parametrize("mode", MODES)
def test_trains_under_cpu_autocast_bfloat16(mode):
    torch.manual_seed(0)
    m = SEMNet.quick(num_classes=4, num_frames=8, attention=mode).eval()
    x = torch.randn(2, 3, 8, 25, 2)
    with torch.no_grad():
        ref = m(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = m(x)
        loss = F.cross_entropy(out, torch.tensor([0, 1]))
    loss.backward()
    assert out.dtype == torch.bfloat16                                 # autocast reached the layers
    torch.testing.assert_close(out.float(), ref, atol=0.1, rtol=0.1)
    grads = [p.grad for p in m.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("layout,M,Tn", [("ntu25", 2, 12), ("shrec22", 1, 9)])
def test_layouts_persons_and_any_length(mode, layout, M, Tn):
    m = SEMNet.quick(num_classes=5, layout=layout, attention=mode, tff="k=(3,5,7,9)").eval()
    x = torch.randn(3, 3, Tn, m.num_joints, M)
    assert m(x).shape == (3, 5)
    assert len(m.attention_maps(x)) == len(m.config.channels)


def test_persons_are_averaged():
    m = SEMNet.quick(num_classes=5).eval()
    a, b = torch.randn(2, 3, 8, 25, 1), torch.randn(2, 3, 8, 25, 1)
    both = m.features(torch.cat([a, b], dim=-1))
    torch.testing.assert_close(both, (m.features(a) + m.features(b)) / 2)


def test_bone_stream_is_the_net_on_bones():
    torch.manual_seed(0)
    joint = SEMNet.quick(num_classes=5, layout="shrec22").eval()
    bone = SEMNet.quick(num_classes=5, layout="shrec22", stream="bone").eval()
    bone.load_state_dict(joint.state_dict())
    x = torch.randn(2, 3, 8, 22, 2)
    torch.testing.assert_close(bone(x), joint(to_bones(x, SHREC22, joint_axis=-2)))


def test_fuse_scores_sums_softmax():
    a, b = torch.tensor([[0.0, 0.0]]), torch.tensor([[math.log(3.0), 0.0]])
    torch.testing.assert_close(fuse_scores(a, b), torch.tensor([[0.5 + 0.75, 0.5 + 0.25]]))
    torch.testing.assert_close(fuse_scores(a, b, weights=(2, 0)), torch.tensor([[1.0, 1.0]]))
    with pytest.raises(ValueError, match="same shape"):
        fuse_scores(a, torch.zeros(1, 3))


def test_clear_errors_on_bad_input():
    m = SEMNet.quick(num_classes=3)
    with pytest.raises(ValueError, match=r"expected V=25 joints .* got V=22"):
        m(torch.randn(1, 3, 8, 22, 2))
    with pytest.raises(ValueError, match=r"expected C=3 .* got C=2"):
        m(torch.randn(1, 2, 8, 25, 2))
    with pytest.raises(ValueError, match="5-D"):
        m(torch.randn(1, 3, 8, 25))
    with pytest.raises(ValueError, match="tff must be one of"):
        SEMNet(tff="k=5")
    with pytest.raises(ValueError, match="one entry per block"):
        SEMNet(channels=(8, 8), embed_channels=(4,), strides=(1, 1))


# ---------------------------------------------------------------- positional encoding
def test_positional_encoding_breaks_joint_permutation_symmetry():
    perm = torch.tensor([3, 0, 6, 1, 5, 2, 4])
    for pe in POS_ENCODINGS:
        torch.manual_seed(0)
        att = GRCFSA(C, COUT, CE, S, "cross-frame", num_joints=V, pos_encoding=pe).double()
        same = torch.allclose(att(x0[..., perm]), att(x0)[..., perm])
        assert same == (pe == "none"), pe                             # a set model only without PE
    enc = positional_encoding("spatial", 6, 4, V)                      # (C, T, V)
    assert enc.shape == (6, 4, V) and torch.equal(enc[:, 0], enc[:, 3])  # the same in every frame
    torch.testing.assert_close(enc[0, 0], torch.sin(torch.arange(V, dtype=torch.float32)))
    st = positional_encoding("spatiotemporal", 6, 4, V)
    assert not torch.equal(st[:, 0], st[:, 3])                         # frames told apart
    torch.testing.assert_close(st[1, :, 0] - 1, torch.cos(torch.arange(4, dtype=torch.float32)))


def test_pos_encoding_is_the_paper_size_default_and_costs_nothing():
    assert SEMConfig().pos_encoding == "spatiotemporal" and SEMNet.quick(4).config.pos_encoding == "none"
    assert "pos_encoding" not in repr(SEMNet.quick(4))                 # quick models: repr (run keys) unchanged
    with torch.device("meta"):
        a, b = SEMNet(), SEMNet(pos_encoding="none")
    assert count_params(a) == count_params(b)
    with pytest.raises(ValueError, match="pos_encoding must be one of"):
        SEMNet.quick(4, pos_encoding="learned")


# ---------------------------------------------------------------- joint identity: what GR adds
@pytest.mark.parametrize("mode", MODES)
def test_attention_permutation_equivariance_only_without_gr(mode):
    # Without GR every joint is treated alike: permuting the input's V axis permutes the output
    # the same way (also with GR while alpha_hat is still 0, its initial value).
    att = layer(mode)
    perm = torch.tensor([3, 0, 6, 1, 5, 2, 4])                                   # a permutation of V = 7 joints
    torch.testing.assert_close(att(x0[..., perm]), att(x0)[..., perm])
    if mode != "cross-frame+GR":
        return
    # A nonzero alpha_hat ties the weights to joint identities: no longer equivariant ...
    with torch.no_grad():
        att.alpha_hat.copy_(torch.randn(S, V, V))
    want = att(x0)[..., perm]
    assert not torch.allclose(att(x0[..., perm]), want, atol=1e-3)
    # ... unless alpha_hat is permuted along with the joints: it is the only joint-aware part
    with torch.no_grad():
        att.alpha_hat.copy_(att.alpha_hat[:, perm][:, :, perm])
    torch.testing.assert_close(att(x0[..., perm]), want)


@pytest.mark.parametrize("row", list(TABLE2))
def test_mstff_receptive_field_from_input_gradients(row):
    # d y[:, b-th branch, t0] / d x: the input frames with a nonzero gradient are exactly the
    # dilated taps of branch b; together they span receptive_field(row) frames.
    cfg = tff_config(row)
    B, Cb, Tn, t0 = len(cfg["kernels"]), 3, 41, 20
    m = MSTFF(5, Cb * B, **cfg).double().eval()                                  # BN with running stats
    with torch.no_grad():
        m.split[0].weight.abs_()                                                 # positive input, positive
    x = (torch.rand(1, 5, Tn, 2, dtype=torch.float64) + 0.1).requires_grad_()  # 1x1 weights: every ReLU open
    y = m(x)                                                                     # (1, B*Cb, Tn, 2)
    union = set()
    for b, (k, d) in enumerate(zip(cfg["kernels"], cfg["dilations"])):
        (g,) = torch.autograd.grad(y[0, b * Cb:(b + 1) * Cb, t0].sum(), x, retain_graph=True)
        reach = set(torch.nonzero(g.abs().sum(dim=(0, 1, 3))).flatten().tolist())
        assert reach == {t0 + d * (j - (k - 1) // 2) for j in range(k)}, (row, b, sorted(reach))
        union |= reach
    assert max(union) - min(union) + 1 == receptive_field(**cfg) == m.receptive_field
    want = {"k=3": 3, "k=9": 9, "k=(3,5,7,9)": 9, "d=(1,3,5,7)": 15}[row]    # literal rows: 15, not 9
    assert m.receptive_field == want


# ---------------------------------------------------------------- SEM figures (skelnb.sem.viz)
def test_attention_figures_controls_and_errors():
    import numpy as np
    from skelnb.sem.viz import attention_heatmap, attention_lines_figure, receptive_field_figure, top_pairs

    w = np.full((25, 25), 0.01)
    w[3, 7], w[7, 3], w[11, 0] = 0.5, 0.2, 0.3
    assert top_pairs(w, 2) == [(3, 7, 0.5, 0.2), (0, 11, 0.01, 0.3)]         # ranked by max of both directions
    seq = torch.randn(3, 10, 25, 2)
    seq[:, 8:] = 0                                                             # padding frames are skipped
    maps = {"block 1": {"head 1": torch.rand(5, 25, 25), "head 2": w}}       # per-frame and static, nested
    fig = attention_lines_figure(seq, NTU25, maps, top_k=6, frame_numbers=range(100, 120, 2))
    buttons = fig.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == ["block 1 / head 1", "block 1 / head 2"]
    assert len(fig.frames) == 5 and len(fig.layout.sliders[0].steps) == 5   # frames of the per-frame weights
    # per-frame weights (5) follow the 8 pose frames by relative position: labelled by those frames' numbers
    assert [s.label for s in fig.layout.sliders[0].steps] == ["100", "102", "106", "108", "112"]
    assert all(t.visible is None for fr in fig.frames for t in fr.data)       # the slider keeps the menu's choice
    n_skel = len(NTU25.parts) + 1                                            # bones per body part + joints
    assert [t.name for t in fig.data[:n_skel - 1]] == list(NTU25.parts)
    assert sum(buttons[1].args[0]["visible"]) == n_skel + 5                  # skeleton + that label's 5 traces
    fig = attention_lines_figure(seq[:, 0, :, 0], NTU25, w, top_k=2)         # one pose, one map: no slider
    assert len(fig.frames) == 0 and not fig.layout.sliders
    lines = [t for t in fig.data[n_skel:] if t.mode == "lines"]
    assert sum(len(t.x) for t in lines) == 3 * 2                             # top_k segments (+ None gaps)
    colours = sorted(c for t in lines if len(t.x) for c in t.line.color[::3])
    assert np.allclose(colours, [25 * 0.3, 25 * 0.5])                       # V * max(w_uv, w_vu): 1 = uniform
    hover = fig.data[-1].marker                                              # carries the colour bar
    assert (hover.cmin, hover.cmax) == (25 * 0.3, 25 * 0.5) and "uniform" in hover.colorbar.title.text
    assert [t.line.width for t in lines if len(t.x)] == [min(t.line.width for t in lines),
                                                         max(t.line.width for t in lines)]  # width grows with it
    with pytest.raises(ValueError, match="frame_numbers has 3 entries"):
        attention_lines_figure(seq, NTU25, w, frame_numbers=[1, 2, 3])
    assert len(attention_heatmap({"a": w, "b": w.T}, NTU25).layout.updatemenus[0].buttons) == 2
    with pytest.raises(ValueError, match=r"V=25 .* got shape \(22, 22\)"):
        attention_lines_figure(seq, NTU25, np.ones((22, 22)))
    with pytest.raises(ValueError, match="pose must be"):
        attention_lines_figure(torch.randn(3, 22), NTU25, w)
    with pytest.raises(ValueError, match="one value per offset"):
        receptive_field_figure({"x": np.ones(3)}, np.arange(5))
