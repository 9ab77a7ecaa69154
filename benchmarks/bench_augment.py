"""Views per second: batched SimCLR augmentation (`batch_curation.augment`) against the classic pipeline.

The classic pipeline is what most SimCLR code does: torchvision transforms on one PIL image at a time
(RandomResizedCrop, RandomHorizontalFlip, RandomApply(ColorJitter), RandomGrayscale, ToTensor, Normalize)
in `DataLoader` workers. Both make two views of the same images with the same settings (SimCLR's CIFAR-10
ones). Real CIFAR-10 when `BC_CIFAR10_ARCHIVE` names the archive, else the procedural images.

    python benchmarks/bench_augment.py                                    # CPU, both pipelines
    python benchmarks/bench_augment.py --device cuda --batch-size 1024    # GPU views/s (PIL baseline on the CPU)
    python benchmarks/bench_augment.py --device cuda --batch-size 1024 --skip-pil
"""
import argparse, time
from pathlib import Path
import torch
from batch_curation.augment import SimCLRAugment, CIFAR10_MEAN, CIFAR10_STD
from batch_curation.data import load_dataset, cifar10_archive, procedural_dataset, pick_device

ROOT = Path(__file__).resolve().parents[1]


def sample_images(n):
    "n uint8 training images (N, 3, H, W), a fixed random sample, and where they come from."
    src = cifar10_archive()
    ds = load_dataset(src, root=ROOT / 'data', progress=False) if src else procedural_dataset(n_train_per_class=-(-n // 10))
    idx = torch.randperm(len(ds.train_x), generator=torch.Generator().manual_seed(0))[:n]
    return ds.train_x[idx], ds.name


def timed(run_epoch, min_seconds, sync=lambda: None):
    "Views per second over whole epochs (at least `min_seconds` of them), after one warm-up epoch."
    run_epoch(); sync()
    n, t0 = 0, time.perf_counter()
    while True:
        n += run_epoch(); sync()
        dt = time.perf_counter() - t0
        if dt >= min_seconds: return n / dt


def batched_views_per_s(x, batch_size, device, min_seconds):
    "The batched pipeline: the images on the device, two views of each batch in one call."
    aug, x = SimCLRAugment(size=x.shape[-1]), x.to(device)
    g = torch.Generator(device).manual_seed(0)
    def epoch():
        perm = torch.randperm(len(x), device=device, generator=g)
        for i in range(0, len(x) - batch_size + 1, batch_size): aug(x[perm[i:i + batch_size]], generator=g)
        return 2 * (len(x) // batch_size) * batch_size
    return timed(epoch, min_seconds, torch.cuda.synchronize if device.type == 'cuda' else lambda: None)


class PILPairs(torch.utils.data.Dataset):
    "PIL images; each item is two independently transformed views of one image."
    def __init__(self, x, tf):
        from PIL import Image
        self.images, self.tf = [Image.fromarray(a) for a in x.permute(0, 2, 3, 1).numpy()], tf
    def __len__(self): return len(self.images)
    def __getitem__(self, i): return self.tf(self.images[i]), self.tf(self.images[i])


def pil_views_per_s(x, batch_size, workers, min_seconds):
    "The classic pipeline: torchvision transforms per PIL image in DataLoader workers."
    import torchvision.transforms as T
    tf = T.Compose([T.RandomResizedCrop(x.shape[-1], scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)), T.RandomHorizontalFlip(),
                    T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8), T.RandomGrayscale(0.2),
                    T.ToTensor(), T.Normalize(CIFAR10_MEAN, CIFAR10_STD)])
    dl = torch.utils.data.DataLoader(PILPairs(x, tf), batch_size=batch_size, shuffle=True, drop_last=True,
                                     num_workers=workers, persistent_workers=workers > 0)
    return timed(lambda: sum(2 * len(v1) for v1, v2 in dl), min_seconds)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='cpu', help="where the batched pipeline runs: cpu or cuda")
    p.add_argument('--batch-size', type=int, default=512, help="images per batch of the batched pipeline")
    p.add_argument('--n-images', type=int, default=10_000, help="images to augment (a fixed random sample)")
    p.add_argument('--num-workers', type=int, default=2, help="DataLoader workers of the PIL pipeline")
    p.add_argument('--pil-batch-size', type=int, default=256, help="batch size of the PIL pipeline")
    p.add_argument('--threads', type=int, default=None, help="torch CPU threads for the batched pipeline (default: torch's)")
    p.add_argument('--min-seconds', type=float, default=3.0, help="time each pipeline over at least this long")
    p.add_argument('--skip-pil', action='store_true', help="time only the batched pipeline")
    a = p.parse_args(argv)
    try: device = pick_device(a.device)
    except ValueError as e: p.error(str(e))
    if a.threads: torch.set_num_threads(a.threads)
    x, name = sample_images(a.n_images)
    if a.batch_size > len(x): p.error(f"--batch-size {a.batch_size} is larger than the {len(x)} images")
    print(f"{len(x):,} images of {x.shape[-2]}x{x.shape[-1]} from {name}")
    where = torch.cuda.get_device_name(device) if device.type == 'cuda' else f"cpu, {torch.get_num_threads()} threads"
    fast = batched_views_per_s(x, a.batch_size, device, a.min_seconds)
    print(f"batched (batch_curation.augment, {where}, batch {a.batch_size}): {fast:12,.0f} views/s")
    if a.skip_pil: return
    slow = pil_views_per_s(x, a.pil_batch_size, a.num_workers, a.min_seconds)
    print(f"PIL per image (torchvision transforms, DataLoader, {a.num_workers} workers): {slow:12,.0f} views/s")
    print(f"ratio: batched / PIL = {fast / slow:.1f}x")


if __name__ == '__main__': main()
