"""Time one epoch of SimCLR with this project's loop and, in the same run, with lightly's pipeline.

Both arms train the same model (ResNet-18 with the CIFAR stem, projection head 512-512-128) with bf16
autocast on CUDA, SGD and NT-Xent at the same batch size; they differ in the data pipeline and the loop:
- batch_curation: images on the device as uint8, batched per-image augmentation, the Learner;
- lightly: lightly's SimCLRTransform on PIL images in a torch DataLoader with worker processes,
  lightly's NTXentLoss, a plain loop (as in lightly's CIFAR-10 benchmark).
lightly is not a dependency of the package; install it in the benchmark's own environment
(`pip install lightly`). Without it, only our arm runs.

    python benchmarks/bench_epoch.py                      # CIFAR-10, batch 512, on CUDA
    python benchmarks/bench_epoch.py --device cpu --train-subset 2048 --batch-size 128 --model conv --epochs 1
"""
import argparse, json, os, sys, tempfile, time
import torch

from batch_curation.data import pick_device
from batch_curation.train import preset_config, build_data, build_learner, device_name


def sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize(dev)


def time_ours(c, ds, epochs, compile_):
    "Seconds of each epoch of our loop (the first includes warm-up and compilation)."
    c.compile = compile_
    with tempfile.TemporaryDirectory() as tmp:
        learn = build_learner(c, ds, tmp, progress=False)
        learn.cbs = [cb for cb in learn.cbs if type(cb).__name__ not in ('KnnCB', 'CheckpointCB')]  # timing only
        for cb in learn.cbs:
            if type(cb).__name__ == 'MetricsFileCB': cb.plot = False  # it keeps learn.history, read below
        dev = learn.device
        if dev.type == 'cuda': torch.cuda.reset_peak_memory_stats(dev)
        learn.fit(epochs)
        times = [r['epoch_time'] for r in learn.history]
        mem = torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == 'cuda' else float('nan')
    return times, mem


def time_lightly(c, ds, epochs, workers):
    "Seconds of each epoch of lightly's SimCLR pipeline on the same images and model."
    from PIL import Image
    from lightly.transforms import SimCLRTransform
    from lightly.loss import NTXentLoss
    from batch_curation.train import build_model
    dev = pick_device(c.device)

    class PILImages(torch.utils.data.Dataset):  # like torchvision's CIFAR10: a PIL image per item
        def __init__(self, x, tf): self.x, self.tf = x.permute(0, 2, 3, 1).numpy(), tf
        def __len__(self): return len(self.x)
        def __getitem__(self, i): return self.tf(Image.fromarray(self.x[i]))

    tf = SimCLRTransform(input_size=ds.train_x.shape[-1], cj_strength=0.5, gaussian_blur=0.0)
    dl = torch.utils.data.DataLoader(PILImages(ds.train_x, tf), batch_size=c.batch_size, shuffle=True, drop_last=True,
                                     num_workers=workers, persistent_workers=workers > 0, pin_memory=dev.type == 'cuda')
    model = build_model(c, ds.train_x.shape[-1]).to(dev).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.06 * c.batch_size / 128, momentum=0.9, weight_decay=5e-4)
    crit = NTXentLoss(temperature=0.5)
    times = []
    for _ in range(epochs):
        sync(dev); t0 = time.perf_counter()
        for (v1, v2) in dl:
            v1, v2 = v1.to(dev, non_blocking=True), v2.to(dev, non_blocking=True)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == 'cuda'):
                _, z = model(torch.cat([v1, v2]).contiguous(memory_format=torch.channels_last))
                loss = crit(*z.float().chunk(2))
            loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
        sync(dev); times.append(time.perf_counter() - t0)
    return times


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--device', default='auto'); p.add_argument('--batch-size', type=int, default=512)
    p.add_argument('--model', default='resnet18'); p.add_argument('--train-subset', type=int)
    p.add_argument('--epochs', type=int, default=3, help='epochs per arm; the best epoch after the first is reported')
    p.add_argument('--workers', type=int, default=min(15, os.cpu_count() or 1), help="lightly's DataLoader workers")
    p.add_argument('--no-lightly', action='store_true'); p.add_argument('--json', help='write the figures here')
    p.add_argument('--data', default='auto', help="as bc_train --data: 'auto' (CIFAR-10), 'procedural', or an image archive")
    a = p.parse_args(argv)
    c = preset_config('paper', data=a.data, device=a.device, batch_size=a.batch_size, model=a.model, train_subset=a.train_subset)
    ds = build_data(c); dev = pick_device(c.device)
    print(f"{ds}; batch {c.batch_size}; model {c.model}; device {device_name(dev)}; torch {torch.__version__}", flush=True)
    res = {'device': device_name(dev), 'batch_size': c.batch_size, 'model': c.model, 'images': len(ds.train_x)}
    best = lambda t: min(t[1:]) if len(t) > 1 else t[0]
    for name, comp in [('ours_eager', False)] + ([('ours_compiled', True)] if dev.type == 'cuda' else []):
        t, mem = time_ours(c, ds, a.epochs, comp)
        res[name] = best(t); res[name + '_epochs'] = t; res[name + '_peak_gib'] = mem
        print(f"{name:14s}: {best(t):.2f} s/epoch (epochs {', '.join(f'{x:.2f}' for x in t)}), peak GPU memory {mem:.2f} GiB", flush=True)
    if not a.no_lightly:
        try:
            t = time_lightly(c, ds, a.epochs, a.workers); res['lightly'] = best(t); res['lightly_epochs'] = t
            print(f"{'lightly':14s}: {best(t):.2f} s/epoch (epochs {', '.join(f'{x:.2f}' for x in t)}), {a.workers} workers", flush=True)
        except ImportError as e: print(f"lightly arm skipped ({e}); pip install lightly beside the package to run it")
    ours = min(res[k] for k in ('ours_eager', 'ours_compiled') if k in res)
    if 'lightly' in res:
        res['speedup_vs_lightly'] = res['lightly'] / ours
        print(f"ratio lightly / ours (best): {res['speedup_vs_lightly']:.2f}x")
    if a.json: open(a.json, 'w').write(json.dumps(res, indent=1))


if __name__ == '__main__': main()
