"""batch_curation.augment beyond its notebook: whole views against torchvision, distributions over many draws,
uint8 images, odd sizes, bad input, and CUDA when there is one."""
import math
import pytest
import torch
import torchvision.transforms.v2.functional as TF
from torchvision.transforms import RandomResizedCrop
from batch_curation.augment import (SimCLRAugment, sample_crop_boxes, normalize, color_jitter, NO_JITTER,
                                    CIFAR10_MEAN, CIFAR10_STD)

KEYS = {'box', 'flip', 'jitter', 'jitter_order', 'jitter_applied', 'gray', 'blur', 'solarize'}
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def images(n=32, h=32, w=32, seed=0):
    return torch.randint(0, 256, (n, 3, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def tv_view(im, p, i, aug, antialias=True):
    "One view made by torchvision's functions with the parameters of view i."
    x0, y0, x1, y1 = p['box'][i].int().tolist()
    im = TF.resized_crop(im, y0, x0, y1 - y0, x1 - x0, [aug.size, aug.size], antialias=antialias)
    if p['flip'][i]: im = TF.horizontal_flip(im)
    ops = [TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue]
    if p['jitter_applied'][i]:
        for k in p['jitter_order'][i].tolist(): im = ops[k](im, p['jitter'][i, k].item())
    if p['gray'][i]: im = TF.rgb_to_grayscale(im, 3)
    if p['blur'][i] > 0: im = TF.gaussian_blur(im, [aug.blur_kernel] * 2, [p['blur'][i].item()] * 2)
    if p['solarize'][i]: im = TF.solarize(im, 0.5 if im.is_floating_point() else 128)
    return TF.normalize(TF.to_dtype(im, torch.float32, scale=True), list(aug.mean), list(aug.std))


def test_contract_shapes_types_ranges():
    aug = SimCLRAugment()
    v1, v2, p1, p2 = aug(images(64), generator=torch.Generator().manual_seed(0))
    for v in (v1, v2): assert v.shape == (64, 3, 32, 32) and v.dtype == torch.float32 and v.is_contiguous()
    for p in (p1, p2):
        assert set(p) == KEYS and all(len(t) == 64 for t in p.values())
        assert p['box'].dtype == torch.float32 and p['box'].shape == (64, 4)
        assert p['jitter'].dtype == torch.float32 and p['jitter'].shape == (64, 4)
        assert p['jitter_order'].dtype == torch.int64 and (p['jitter_order'].sort(1).values == torch.arange(4)).all()
        assert all(p[k].dtype == torch.bool for k in ('flip', 'jitter_applied', 'gray', 'solarize'))
        b = p['box']
        assert (b >= 0).all() and (b[:, 2] <= 32).all() and (b[:, 3] <= 32).all() and (b[:, 2:] > b[:, :2]).all()
        assert (b == b.round()).all()   # whole pixels, as torchvision's boxes
        assert (p['jitter'][~p['jitter_applied']] == torch.tensor(NO_JITTER)).all()


def test_reproducible_and_independent():
    aug, x = SimCLRAugment(), images(128)
    a = aug(x, generator=torch.Generator().manual_seed(5))
    b = aug(x, generator=torch.Generator().manual_seed(5))
    c = aug(x, generator=torch.Generator().manual_seed(6))
    for s, t in zip(a, b):
        if isinstance(s, dict): assert all(torch.equal(s[k], t[k]) for k in s)
        else: assert torch.equal(s, t)
    assert not torch.equal(a[0], c[0])
    v1, v2, p1, p2 = a
    assert not torch.equal(v1, v2) and (p1['box'] != p2['box']).any(1).float().mean() > 0.9
    assert len(p1['box'].unique(dim=0)) > 110   # images get their own boxes (a few coincide by chance)
    # the global generator of the device is used when none is given, and advances
    torch.manual_seed(0); d = aug(x)
    torch.manual_seed(0); e = aug(x)
    assert torch.equal(d[0], e[0]) and not torch.equal(aug(x)[0], e[0])


@pytest.mark.parametrize('h,w,size', [(32, 32, 32), (24, 40, 32), (40, 40, 24)])
def test_views_match_torchvision_on_float_images(h, w, size):
    "Every view equals torchvision's functions with its parameters, blur and solarisation included."
    aug = SimCLRAugment(size=size, blur_p=0.5, solarize_p=0.3, gray_p=0.3)
    xf = images(48, h, w).float() / 255
    v, p = aug.view(xf, torch.Generator().manual_seed(1))
    # resize: torchvision antialiases by default, which only matters (and only differs) when downscaling
    ref = torch.stack([tv_view(im, p, i, aug, antialias=False) for i, im in enumerate(xf)])
    torch.testing.assert_close(v, ref, atol=1e-4, rtol=0)   # 1e-5 in [0, 1], divided by std ~0.25


def test_uint8_views_close_to_torchvision_uint8():
    """On uint8 images torchvision rounds to whole grey levels after every step, and its colour operations
    truncate (cast to uint8) rather than round, so each jitter step darkens by half a level on average. The batched
    pipeline keeps floats throughout. So: without jitter the two agree to rounding (a third of a level on average),
    with jitter ours is brighter by about 1.5 levels on average, and no pixel differs by more than a few levels."""
    aug = SimCLRAugment()
    x = images(64)
    v, p = aug.view(x, torch.Generator().manual_seed(2))
    ref = torch.stack([tv_view(im, p, i, aug) for i, im in enumerate(x)])
    diff = (v - ref) * torch.tensor(CIFAR10_STD).view(1, 3, 1, 1) * 255   # ours - torchvision, in grey levels
    plain, jittered = diff[~p['jitter_applied']], diff[p['jitter_applied']]
    assert plain.abs().mean() < 0.5 and plain.abs().max() < 1.5, (plain.abs().mean(), plain.abs().max())
    assert 0 < jittered.mean() < 2.5 and jittered.abs().quantile(0.99) < 4.5, (jittered.mean(), jittered.abs().quantile(0.99))
    assert diff.abs().max() < 8, diff.abs().max()


def ks_distance(a, b):
    "Largest gap between the empirical CDFs of two samples (the two-sample Kolmogorov-Smirnov statistic)."
    t = torch.cat([a, b]).unique()
    cdf = lambda s: torch.searchsorted(s.sort().values, t, right=True) / len(s)
    return (cdf(a) - cdf(b)).abs().max().item()


@pytest.mark.parametrize('h,w,scale,ratio', [(32, 32, (0.08, 1.0), (3 / 4, 4 / 3)), (32, 32, (0.2, 1.0), (3 / 4, 4 / 3)),
                                             (24, 40, (0.08, 1.0), (3 / 4, 4 / 3)), (32, 32, (0.5, 1.0), (1 / 2, 2))])
def test_crop_distribution_matches_torchvision(h, w, scale, ratio):
    n = 20_000
    ours = sample_crop_boxes(n, h, w, scale, ratio, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    img = torch.zeros(3, h, w)
    ij = torch.tensor([RandomResizedCrop.get_params(img, list(scale), list(ratio)) for _ in range(n)]).float()
    theirs = torch.stack([ij[:, 1], ij[:, 0], ij[:, 1] + ij[:, 3], ij[:, 0] + ij[:, 2]], 1)
    def stats(b):
        bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
        return {'area': bw * bh / (h * w), 'log ratio': (bw / bh).log(), 'x centre': (b[:, 0] + b[:, 2]) / 2 / w,
                'y centre': (b[:, 1] + b[:, 3]) / 2 / h, 'full': ((bw == w) & (bh == h)).float()}
    for k, a in stats(ours).items():
        b = stats(theirs)[k]
        se = math.sqrt(a.var() / n + b.var() / n) + 1e-6
        assert abs(a.mean() - b.mean()) < 5 * se, (k, a.mean(), b.mean())
        assert ks_distance(a, b) < 0.025, (k, ks_distance(a, b))   # two samples of 20,000: p < 1e-5 under the null


def test_decision_rates():
    n, aug = 40_000, SimCLRAugment(blur_p=0.5, solarize_p=0.1)
    p = aug.sample(n, 32, 32, torch.Generator().manual_seed(3))
    for k, rate in [('flip', 0.5), ('jitter_applied', 0.8), ('gray', 0.2), ('solarize', 0.1)]:
        assert abs(p[k].float().mean() - rate) < 4 * math.sqrt(rate * (1 - rate) / n), k
    assert abs((p['blur'] > 0).float().mean() - 0.5) < 0.01
    s = p['blur'][p['blur'] > 0]
    assert 0.1 <= s.min() and s.max() <= 2.0 and abs(s.mean() - 1.05) < 0.02
    j = p['jitter'][p['jitter_applied']]
    assert (j[:, :3] >= 0.6).all() and (j[:, :3] <= 1.4).all() and (j[:, 3].abs() <= 0.1).all()
    assert (j.mean(0) - torch.tensor(NO_JITTER)).abs().max() < 0.01
    # every one of the 24 orders, about equally often
    codes = (p['jitter_order'] * torch.tensor([64, 16, 4, 1])).sum(1)
    counts = codes.unique(return_counts=True)[1].float()
    assert len(counts) == 24 and (counts / n - 1 / 24).abs().max() < 0.005


def test_off_switches_give_the_normalised_image():
    aug = SimCLRAugment(scale=(1, 1), ratio=(1, 1), flip_p=0, jitter_p=0, gray_p=0)
    x = images(16)
    v, p = aug.view(x)
    torch.testing.assert_close(v, normalize(x), atol=1e-5, rtol=0)
    assert not p['flip'].any() and not p['gray'].any() and (p['box'] == torch.tensor([0., 0, 32, 32])).all()


def test_float32_under_autocast():
    aug, x = SimCLRAugment(blur_p=1.0), images(8)
    ref = aug(x, generator=torch.Generator().manual_seed(0))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        got = aug(x, generator=torch.Generator().manual_seed(0))
    assert got[0].dtype == torch.float32 and torch.equal(got[0], ref[0]) and torch.equal(got[1], ref[1])


def test_neutral_jitter_is_exact_identity():
    xf = images(16).float() / 255
    order = torch.rand(16, 4, generator=torch.Generator().manual_seed(4)).argsort(1)
    assert torch.equal(color_jitter(xf, torch.tensor(NO_JITTER).expand(16, 4), order), xf)


def test_normalize_uint8_and_float_agree():
    x = images(8)
    torch.testing.assert_close(normalize(x), normalize(x.float() / 255), atol=1e-6, rtol=0)
    torch.testing.assert_close(normalize(x), TF.normalize(x.float() / 255, list(CIFAR10_MEAN), list(CIFAR10_STD)))


def test_bad_input_is_named():
    aug = SimCLRAugment()
    with pytest.raises(ValueError, match=r"expected \(B, 3, H, W\)"): aug(images(4)[0])
    with pytest.raises(ValueError, match=r"expected \(B, 3, H, W\)"): aug(images(4)[:, :1])
    with pytest.raises(TypeError, match="expected uint8"): aug(images(4).int())
    with pytest.raises(ValueError, match="flip_p=-0.1"): SimCLRAugment(flip_p=-0.1)
    with pytest.raises(ValueError, match="hue jitter range"): SimCLRAugment(jitter=(0.4, 0.4, 0.4, 0.7))
    with pytest.raises(ValueError, match="brightness jitter range"): SimCLRAugment(jitter=((1.5, 0.5), 0.4, 0.4, 0.1))
    with pytest.raises(ValueError, match="scale=.*each needs"): SimCLRAugment(scale=(0.5, 0.1))


@cuda
def test_cuda_matches_cpu():
    aug, x = SimCLRAugment(blur_p=0.5, solarize_p=0.2), images(256)
    g = torch.Generator('cuda').manual_seed(0)
    v1, v2, p1, p2 = aug(x.cuda(), generator=g)
    assert v1.is_cuda and all(t.is_cuda for t in p1.values())
    for v, p in ((v1, p1), (v2, p2)):
        torch.testing.assert_close(v.cpu(), aug.apply(x, {k: t.cpu() for k, t in p.items()}), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="generator is on cpu"): aug(x.cuda(), generator=torch.Generator())
    with pytest.raises(ValueError, match="generator is on cuda"): aug(x, generator=g)
