"NT-Xent against a loop-based reference, the model parts, and bad input (batch_curation.simclr, .evaluate)."
import pytest, torch
import torch.nn.functional as F
from torch import nn
from batch_curation.simclr import (RESNETS, resnet_backbone, conv_backbone, ProjectionHead, simclr_head,
                                   SimCLRModel, nt_xent, NTXentLoss)


def reference_nt_xent(z1, z2, temperature=0.5, pos_weight=None, neg_mask=None):
    "The definition, one anchor at a time, in float64: -log(exp(positive) / sum of exp(all but self))."
    B = len(z1)
    views = [F.normalize(z1.double(), dim=1), F.normalize(z2.double(), dim=1)]
    total = weight_sum = 0.
    for i in range(B):
        w = 1. if pos_weight is None else float(pos_weight[i])
        for v in (0, 1):
            a = views[v][i]
            logits = [a @ views[1 - v][i] / temperature]
            for j in range(B):
                masked = neg_mask is not None and bool(neg_mask[i, j] or neg_mask[j, i])
                if j != i and not masked: logits += [a @ views[0][j] / temperature, a @ views[1][j] / temperature]
            logits = torch.stack(logits)
            total += w * (torch.logsumexp(logits, 0) - logits[0]).item()
            weight_sum += w
    return total / weight_sum


def random_inputs(B, D, seed):
    g = torch.Generator().manual_seed(seed)
    z1, z2 = torch.randn(B, D, generator=g), torch.randn(B, D, generator=g)
    w = torch.rand(B, generator=g) * (torch.rand(B, generator=g) > 0.2)  # some pairs dropped
    m = torch.rand(B, B, generator=g) < 0.25
    m &= ~torch.eye(B, dtype=torch.bool)
    m[torch.arange(B), (torch.arange(B) + 1) % B] = False  # every image keeps a negative
    m[(torch.arange(B) + 1) % B, torch.arange(B)] = False
    w[0] = 1.  # not all weights zero
    return z1, z2, w, m


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("temperature", [0.07, 0.5, 1.0])
@pytest.mark.parametrize("use_w,use_m", [(False, False), (True, False), (False, True), (True, True)])
def test_nt_xent_matches_reference_float32(seed, temperature, use_w, use_m):
    z1, z2, w, m = random_inputs(B=2 + 3 * seed, D=12, seed=seed)
    w, m = (w if use_w else None), (m if use_m else None)
    got = nt_xent(z1, z2, temperature, w, m)
    assert got.dtype == torch.float32
    # float32 round-off over a 2B-way log-sum-exp of logits up to 1/t ~ 14: well inside 1e-5 absolute
    assert got.item() == pytest.approx(reference_nt_xent(z1, z2, temperature, w, m), abs=1e-5, rel=1e-5)


@pytest.mark.parametrize("use_w,use_m", [(False, False), (True, True)])
def test_nt_xent_under_bf16_autocast(use_w, use_m):
    z1, z2, w, m = random_inputs(B=16, D=32, seed=7)
    z2 = z1 + 0.3 * z2  # close positives: logits near 1/t, where bf16 rounding hurts most
    w, m = (w if use_w else None), (m if use_m else None)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        got32 = nt_xent(z1, z2, 0.1, w, m)
        got16 = nt_xent(z1.bfloat16(), z2.bfloat16(), 0.1, w, m)
    assert got32.dtype == got16.dtype == torch.float32
    # autocast is switched off inside the loss: float32 inputs give the float32 result
    assert got32.item() == pytest.approx(reference_nt_xent(z1, z2, 0.1, w, m), abs=1e-5)
    # bf16 inputs are rounded to 8 significant bits (up to 2^-9 relative per entry), which moves logits of
    # size 1/t = 10 by up to ~0.04: the loss can only be as close to the unrounded reference as that allows.
    assert got16.item() == pytest.approx(reference_nt_xent(z1, z2, 0.1, w, m), abs=1e-3, rel=1e-2)
    # and on the rounded numbers themselves, the loss is exact to float32 round-off again
    assert got16.item() == pytest.approx(reference_nt_xent(z1.bfloat16(), z2.bfloat16(), 0.1, w, m), abs=1e-5)


def test_nt_xent_gradient_matches_reference():
    z1, z2, w, m = random_inputs(B=6, D=8, seed=3)
    a, b = z1.double().requires_grad_(), z2.double().requires_grad_()
    nt_xent(a, b, 0.5, w, m).backward()
    ga = a.grad.clone()
    a2 = z1.double().requires_grad_()
    views = lambda x: [F.normalize(x, dim=1), F.normalize(z2.double(), dim=1)]
    # float64 vectorised reference of the same definition, for autograd
    z = torch.cat(views(a2))
    excl = torch.eye(12, dtype=torch.bool) | ((m | m.T) & ~torch.eye(6, dtype=torch.bool)).repeat(2, 2)
    logits = (z @ z.T / 0.5).masked_fill(excl, float('-inf'))
    per = F.cross_entropy(logits, torch.arange(12).roll(6), reduction='none')
    ((w.double().repeat(2) * per).sum() / w.double().sum() / 2).backward()
    assert torch.allclose(ga, a2.grad, atol=1e-5)


def test_nt_xent_masks_and_weights_semantics():
    z1, z2, w, m = random_inputs(B=8, D=16, seed=0)
    base = nt_xent(z1, z2)
    assert torch.allclose(nt_xent(z1, z2, pos_weight=torch.ones(8)), base)
    assert torch.allclose(nt_xent(z1, z2, pos_weight=5 * w), nt_xent(z1, z2, pos_weight=w))
    assert torch.allclose(nt_xent(z1, z2, neg_mask=torch.eye(8, dtype=torch.bool)), base)  # diagonal ignored
    assert torch.allclose(nt_xent(z1, z2, neg_mask=m), nt_xent(z1, z2, neg_mask=m.T))
    assert nt_xent(z1, z2, pos_weight=torch.zeros(8)).item() == 0.
    # masking a negative removes a positive term from the denominator: the loss can only go down
    assert nt_xent(z1, z2, neg_mask=m) < base
    # NT-Xent only sees directions
    assert torch.allclose(nt_xent(3 * z1, 0.5 * z2), base)


def test_nt_xent_sgd_lowers_loss():
    torch.manual_seed(0)
    z1, z2 = torch.randn(32, 16, requires_grad=True), torch.randn(32, 16, requires_grad=True)
    opt = torch.optim.SGD([z1, z2], lr=10.)  # the loss sees directions: gradients shrink as 1/|z|
    losses = []
    for _ in range(20):
        loss = nt_xent(z1, z2, 0.5)
        opt.zero_grad(); loss.backward(); opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
    assert all(b <= a + 1e-6 for a, b in zip(losses, losses[1:]))


@pytest.mark.parametrize("call,message", [
    (lambda z1, z2, w, m: nt_xent(z1, z2, 0.), "temperature must be > 0"),
    (lambda z1, z2, w, m: nt_xent(z1, z2, -0.1), "temperature must be > 0"),
    (lambda z1, z2, w, m: NTXentLoss(0.), "temperature must be > 0"),
    (lambda z1, z2, w, m: nt_xent(z1, z2[:, :4]), "z1 and z2 must be (B, D)"),
    (lambda z1, z2, w, m: nt_xent(z1, z2[:3]), "got shapes (8, 16) and (3, 16)"),
    (lambda z1, z2, w, m: nt_xent(z1[None], z2[None]), "z1 and z2 must be (B, D)"),
    (lambda z1, z2, w, m: nt_xent(z1[:1], z2[:1]), "at least 2 images"),
    (lambda z1, z2, w, m: nt_xent(z1, z2, pos_weight=w[:, None]), "pos_weight must have shape (B,) = (8,)"),
    (lambda z1, z2, w, m: nt_xent(z1, z2, pos_weight=-w), "pos_weight must be >= 0"),
    (lambda z1, z2, w, m: nt_xent(z1, z2, neg_mask=m[:, :7]), "neg_mask must have shape (B, B) = (8, 8)"),
    (lambda z1, z2, w, m: nt_xent(z1, z2, neg_mask=m.int()), "neg_mask must be a bool tensor"),
    (lambda z1, z2, w, m: nt_xent(z1, z2, neg_mask=torch.ones(8, 8, dtype=torch.bool)), "with no negatives"),
    (lambda z1, z2, w, m: NTXentLoss()(z1, z2, neg_mask=~torch.eye(8, dtype=torch.bool)), "image(s) [0, 1, 2"),
])
def test_nt_xent_bad_input(call, message):
    z1, z2, w, m = random_inputs(B=8, D=16, seed=0)
    with pytest.raises(ValueError, match=None) as e: call(z1, z2, w, m)
    assert message in str(e.value)


def test_one_image_without_negatives_names_it():
    z1, z2, w, m = random_inputs(B=5, D=4, seed=0)
    mask = torch.zeros(5, 5, dtype=torch.bool); mask[3, [0, 1, 2, 4]] = True
    with pytest.raises(ValueError, match=r"image\(s\) \[3\] with no negatives"): nt_xent(z1, z2, neg_mask=mask)
    mask[3, 4] = False  # image 3 keeps image 4
    nt_xent(z1, z2, neg_mask=mask)


@pytest.mark.parametrize("name,cifar_stem,size,dim", [('resnet18', True, 32, 512), ('resnet34', True, 32, 512),
                                                      ('resnet50', True, 32, 2048), ('resnet18', False, 64, 512)])
def test_backbones(name, cifar_stem, size, dim):
    net = resnet_backbone(name, cifar_stem)
    assert net.feat_dim == dim
    assert net.conv1.kernel_size == ((3, 3) if cifar_stem else (7, 7))
    assert isinstance(net.maxpool, nn.Identity) == cifar_stem
    net.eval()
    with torch.no_grad(): assert net(torch.randn(2, 3, size, size)).shape == (2, dim)


def test_unknown_backbone_lists_choices():
    with pytest.raises(ValueError) as e: resnet_backbone('vit_b_16')
    assert "'vit_b_16'" in str(e.value) and all(n in str(e.value) for n in RESNETS)


def test_head_and_model():
    head = simclr_head(64, 32, 16)
    assert [type(m) for m in head] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    with pytest.raises(ValueError, match="block 1 takes 8 inputs but block 0 gives 4"):
        ProjectionHead([(2, 4, False, True), (8, 2, False, False)])
    backbone = conv_backbone((8, 16))
    model = SimCLRModel(backbone, simclr_head(backbone.feat_dim, 32, 16))
    h, z = model(torch.randn(4, 3, 16, 16))
    assert h.shape == (4, 16) and z.shape == (4, 16)
    assert model.backbone is backbone


# ---- batch_curation.evaluate ----
from batch_curation.evaluate import extract_features, knn_accuracy, linear_probe, evaluate_backbone
from batch_curation.data import procedural_dataset


def clustered(n_per_class, seed, n_classes=10, dim=16, noise=0.1):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n_classes).repeat_interleave(n_per_class)
    return torch.eye(n_classes, dim)[y] + noise * torch.randn(len(y), dim, generator=g), y


def shuffled(y, seed): return y[torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))]


def reference_knn(train, train_y, test, test_y, k, t, weighted):
    train, test = F.normalize(train.double(), dim=1), F.normalize(test.double(), dim=1)
    correct = 0
    for x, y in zip(test, test_y):
        sims = train @ x
        order = sorted(range(len(train)), key=lambda j: -float(sims[j]))[:k]
        votes = [0.] * (int(train_y.max()) + 1)
        for j in order: votes[int(train_y[j])] += float(torch.exp(sims[j] / t)) if weighted else 1.
        correct += votes.index(max(votes)) == int(y)
    return correct / len(test)


def test_knn_separated_and_shuffled():
    (a, ay), (b, by) = clustered(60, 0), clustered(60, 1)
    assert knn_accuracy(a, ay, b, by) == 1.0
    assert knn_accuracy(a, ay, b, by, k=10, weighted=False) == 1.0
    # shuffling both splits' labels: each test image is right with probability 1/10, independently
    for k, w in ((200, True), (10, False)):
        assert abs(knn_accuracy(a, shuffled(ay, 2), b, shuffled(by, 3), k, weighted=w) - 0.1) < 0.05


@pytest.mark.parametrize("k,weighted,chunk", [(200, True, 1024), (10, False, 3), (1, True, 5), (25, True, 1)])
def test_knn_matches_reference(k, weighted, chunk):
    g = torch.Generator().manual_seed(k)
    a, ay = torch.randn(120, 6, generator=g), torch.randint(0, 4, (120,), generator=g)
    b, by = torch.randn(30, 6, generator=g), torch.randint(0, 4, (30,), generator=g)
    assert knn_accuracy(a, ay, b, by, k, 0.1, weighted, chunk=chunk) == reference_knn(a, ay, b, by, k, 0.1, weighted)


def test_linear_probe_separated_and_shuffled():
    (a, ay), (b, by) = clustered(50, 0), clustered(50, 1)
    assert linear_probe(a, ay, b, by, epochs=30) == 1.0
    assert abs(linear_probe(a, shuffled(ay, 2), b, shuffled(by, 3), epochs=30) - 0.1) < 0.06
    with torch.no_grad(): assert linear_probe(a, ay, b, by, epochs=30) == 1.0
    assert linear_probe(a, ay, b, by, epochs=5, seed=1) == linear_probe(a, ay, b, by, epochs=5, seed=1)


def test_extract_features_restores_mode_and_rejects_floats():
    net = conv_backbone((4, 8)).train()
    x = torch.randint(0, 256, (7, 3, 8, 8), dtype=torch.uint8)
    f = extract_features(net, x, batch_size=3)
    assert f.shape == (7, 8) and f.dtype == torch.float32 and net.training
    assert torch.allclose(f, extract_features(net.eval(), x, batch_size=7), atol=1e-5)
    assert not net.training  # the mode it was called in is kept
    with pytest.raises(ValueError, match="images must be uint8"): extract_features(net, x.float() / 255)


def test_evaluate_backbone_leaves_backbone_untouched():
    data = procedural_dataset(n_train_per_class=20, n_test_per_class=5, size=16, n_classes=4)
    torch.manual_seed(0)
    net = conv_backbone((8, 16)).train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    res = evaluate_backbone(net, data, probe_kw=dict(epochs=5))
    assert set(res) == {'knn', 'knn10', 'linear'} and all(isinstance(v, float) and 0 <= v <= 1 for v in res.values())
    assert net.training and all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    assert set(evaluate_backbone(net, data, probe=False)) == {'knn', 'knn10'}
