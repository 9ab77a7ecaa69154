"""Overhead of curation: epochs of plain SimCLR vs loss masking vs batch selection, side by side in one process.

    python benchmarks/bench_curation.py                 # GPU: ResNet-18, batch 512, CIFAR-10, bf16 + channels_last
    python benchmarks/bench_curation.py --tiny          # a CPU check in seconds (small conv net, 16x16 shapes)
    python benchmarks/bench_curation.py --model conv --device cpu --batch-size 256 --train-subset 5120 --epochs 2
                                                        # CPU figures for the `quick` preset's conv net on CIFAR-10
    python benchmarks/bench_curation.py --arms '{"none": ["none", {}], "views": ["batch", {"threshold": "best"}],
                                                "images": ["batch", {"pool": "images", "threshold": "best"}]}'
                                                        # named arms: a scheme and its parameters each
    python benchmarks/bench_curation.py --configs configs/cifar10-cpu/stage1/baseline.toml configs/cifar10-cpu/stage3/*.toml \
        --train-subset 2560 --epochs 2                  # a study's own arms (net, loss, curation, threads), one file each

Each scheme trains a fresh, identically seeded model. The first `--warmup` epochs are not timed (allocator, cuDNN
autotuning, compilation) and are also the schemes' warm-up, so every timed epoch has curation active. Prints seconds
per epoch (median of the timed epochs), the ratio to the baseline, and what each scheme did (rejection rate, extra
forwards per step, masked fractions) and, for batch selection, how far it moved what was trained on: the mean
crop IoU of the trained candidates minus that of the first draws, the score gap between the chosen candidate and the
rejected ones, and the fractions of images trained 0, 1 and 2+ times in the epoch. Targets on a GPU: masking <= 1.10x, batch selection at its defaults <= 1.40x.
With --configs each arm is a bc_train config file, as the study ran it (its net, batch size, loss, curation and
threads; --batch-size overrides), timed for --warmup + --epochs epochs: the cost of each arm on one machine at one
time, which the study's own epoch times (runs that shared cores) cannot give.
Nothing is asserted: timings are figures to read, not tests.
"""
import argparse, json, statistics, sys, tempfile, time
from pathlib import Path
import torch
from batch_curation.data import load_dataset, cifar10_archive, procedural_dataset, subset, pick_device
from batch_curation.learner import KnnCB, CheckpointCB, MetricsFileCB
from batch_curation.curation import CURATION_SUMMARY_KEYS
from batch_curation.train import preset_config, build_learner, read_config_file

TARGETS = {'mask': 1.10, 'batch': 1.40}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--tiny', action='store_true', help='a quick CPU check: conv net, procedural 16x16 images, batch 64')
    p.add_argument('--schemes', default='none,mask,batch', help='comma-separated curation schemes; the first is the baseline')
    p.add_argument('--arms', default=None,
                   help='JSON object {label: [scheme, {parameters}]} instead of --schemes; the first arm is the baseline')
    p.add_argument('--configs', nargs='+', default=None,
                   help='bc_train .toml/.json files instead of --schemes, an arm each (named by the file); the first is the baseline')
    p.add_argument('--epochs', type=int, default=None, help='timed epochs per scheme (default 3, tiny 2)')
    p.add_argument('--warmup', type=int, default=1, help='untimed epochs first, also the curation warm-up')
    p.add_argument('--batch-size', type=int, default=None)
    p.add_argument('--model', default='resnet18', help="a torchvision ResNet name, or 'conv' (the small net of the quick preset)")
    p.add_argument('--train-subset', type=int, default=None, help='use this many training images')
    p.add_argument('--device', default='auto')
    p.add_argument('--compile', action='store_true')
    p.add_argument('--curation-args', default='{}', help='JSON parameters passed to every curation scheme')
    p.add_argument('--json', default=None, help='also write the results to this file')
    return p.parse_args(argv)


def load_data(args):
    "CIFAR-10 from the local archive (BC_CIFAR10_ARCHIVE), else from data/, else the procedural shapes."
    if args.tiny: return procedural_dataset(n_train_per_class=64, n_test_per_class=8, size=16)
    for src in (cifar10_archive(), 'cifar10'):
        if src is None: continue
        try: return load_dataset(src, progress=False)
        except Exception as e: print(f"could not load {src}: {e}", file=sys.stderr)
    print("CIFAR-10 not available: falling back to the procedural data set (32x32)", file=sys.stderr)
    return procedural_dataset(n_train_per_class=5000, n_test_per_class=10, size=32)


def arm_config(name, args, curation_args):
    "The `TrainConfig` of one arm: bc_train's model, recipe and callbacks at the benchmark's size."
    if args.tiny: net = dict(model='conv', conv_width=32, head_hidden=128, head_out=64)
    elif args.model == 'conv': net = dict(model='conv', conv_width=64, head_hidden=256, head_out=128)  # `quick`'s net
    else: net = dict(model=args.model, head_hidden=512, head_out=128)
    kw = {} if name == 'none' else {'warmup_epochs': args.warmup, **curation_args}
    return preset_config('paper', **net, batch_size=args.batch_size, epochs=args.warmup + args.epochs,
                         device=args.device, compile=args.compile, curation=name, curation_args=kw)


def file_config(path, args):
    "The `TrainConfig` of a bc_train config file, run for the benchmark's epochs (and batch size, when given)."
    d = read_config_file(path)
    over = dict(epochs=args.warmup + args.epochs, device=args.device, compile=args.compile)
    if args.batch_size: over['batch_size'] = args.batch_size
    return preset_config(d.pop('preset', 'quick'), **{**d, **over})


def run_scheme(name, ds, args, curation_args, label=None, config=None):
    "Train one arm from the same seed as every other (bc_train's learner, without kNN, checkpoints or files)."
    c = config or arm_config(name, args, curation_args)
    threads = torch.get_num_threads()
    if c.threads: torch.set_num_threads(c.threads)  # a config file's threads, as bc_train sets them
    try:
        with tempfile.TemporaryDirectory() as tmp:
            learn = build_learner(c, ds, tmp, progress=False)
            learn.cbs = [cb for cb in learn.cbs if not isinstance(cb, (KnnCB, CheckpointCB, MetricsFileCB))]  # timing only
            logs = learn.fit(c.epochs)
    finally: torch.set_num_threads(threads)
    timed = logs[args.warmup:]
    out = {'scheme': label or name, 'curation': name, 'curation_args': curation_args, 'loss': c.loss,
           'loss_args': c.loss_args, 'batch_size': c.batch_size, 'threads': c.threads,
           's_per_epoch': statistics.median(r['epoch_time'] for r in timed),
           'epoch_times': [r['epoch_time'] for r in logs], 'last_epoch': timed[-1]}
    if learn.device.type == 'cuda':
        del learn
        torch.cuda.empty_cache()
    return out


def main(argv=None):
    args = parse_args(argv)
    args.epochs = args.epochs or (2 if args.tiny else 3)
    if not args.configs: args.batch_size = args.batch_size or (64 if args.tiny else 512)
    dev = pick_device(args.device)
    if dev.type == 'cuda': torch.backends.cudnn.benchmark = True
    ds = load_data(args)
    if args.train_subset: ds = subset(ds, args.train_subset, seed=0)  # a seeded choice: archives are often sorted by class
    x = ds.train_x
    curation_args = json.loads(args.curation_args)
    if args.arms: arms = {label: (name, {**curation_args, **kw}) for label, (name, kw) in json.loads(args.arms).items()}
    else: arms = {name: (name, curation_args) for name in args.schemes.split(',')}
    configs = {}
    if args.configs:
        try: configs = {Path(f).stem: file_config(f, args) for f in args.configs}  # all checked before any is timed
        except ValueError as e: sys.exit(f"bench_curation: {e}")
        arms = {label: (c.curation, c.curation_args) for label, c in configs.items()}
    name_dev = torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'cpu'
    batch = f"{args.batch_size} ({len(x) // args.batch_size} steps/epoch)" if args.batch_size else 'of each config'
    net = 'tiny conv net' if args.tiny else 'the net of each config' if configs else args.model
    print(f"{ds.name}: {len(x):,} images of {x.shape[-1]}x{x.shape[-1]}, batch {batch}, "
          f"{net}, {name_dev}, torch {torch.__version__}; "
          f"{args.warmup} untimed + {args.epochs} timed epochs per scheme", flush=True)
    results = []
    for label, (name, kw) in arms.items():
        t0 = time.perf_counter()
        results.append(run_scheme(name, ds, args, kw, label, configs.get(label)))
        print(f"  {label}: done in {time.perf_counter() - t0:.1f}s", flush=True)
    base = results[0]['s_per_epoch']
    w = max(8, *(len(r['scheme']) for r in results))
    print(f"\n{'arm':<{w}} {'s/epoch':>8} {'ratio':>6} {'target':>7}  what it did (last timed epoch)")
    for r in results:
        r['ratio'] = r['s_per_epoch'] / base
        e = r['last_epoch']
        did = ', '.join(f"{k} {e[k]:.3f}" for k in CURATION_SUMMARY_KEYS if k in e)
        tgt = TARGETS.get(r['scheme']) if r['curation_args'] == {} and not configs else None  # for the defaults
        flag = '' if tgt is None else f"<={tgt:.2f}{' ok' if r['ratio'] <= tgt else ' MISSED'}"
        print(f"{r['scheme']:<{w}} {r['s_per_epoch']:8.3f} {r['ratio']:6.3f} {flag:>7}  {did}")
    if args.json:
        with open(args.json, 'w') as f: json.dump({'device': name_dev, 'args': vars(args), 'results': results}, f, indent=1)
    return results


if __name__ == '__main__': main()
