#!/usr/bin/env python3
"""PyTorch peer of bench/bench_vgg16.cpp: the VGG16 conv base (torchvision `vgg16().features`,
random weights) at 224x224, forward only, timed the same way and printed in the same line
format, so that a script can divide the two by line name:

  vgg16 base <precision> N<batch> 224x224 | <device> | <ms> ms | <TFLOP/s> TFLOP/s | <img/s> img/s ...

GPU: channels_last, cudnn.benchmark=True, torch.inference_mode(); fp32 (TF32 off), tf32 (TF32 on)
and bf16 at batch 30 and 256 (and 1 without --quick). For bf16 two variants are timed, autocast
and the model converted to bf16; the line reports the faster (PyTorch's best) and names it.
CPU: on all cores (torch.set_num_threads), batch 1, 8 and 30 (1 with --quick): fp32 in
channels_last and the default NCHW layout, the faster reported; bf16 as
`torch.autocast("cpu", torch.bfloat16)` on the channels_last model (PyTorch's own recipe for
oneDNN's bf16 kernels), its note naming the CPU's oneDNN ISA (torch.backends.cpu.get_cpu_capability
where this PyTorch has it, else the CPU flags).

Without torchvision the same `features` stack is built with torch.nn (configuration D); the
note says which. Usage: torch_vgg16.py [--quick] [--reps N] [--cpu-only|--gpu-only]
"""
import argparse
import os
import time

import torch
import torch.nn as nn

VGG16_D = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def vgg16_features():
    """torchvision's vgg16().features with random weights, or the same stack built here."""
    try:
        import torchvision
        try:
            model = torchvision.models.vgg16(weights=None)
        except TypeError:  # torchvision < 0.13
            model = torchvision.models.vgg16(pretrained=False)
        return model.features, "torchvision " + torchvision.__version__
    except ImportError:
        layers, channels = [], 3
        for v in VGG16_D:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, v, 3, padding=1), nn.ReLU(inplace=True)]
                channels = v
        return nn.Sequential(*layers), "torch.nn (torchvision not installed)"


def base_flops(size=224):
    flops, channels = 0.0, 3
    for v in VGG16_D:
        if v == "M":
            size //= 2
        else:
            flops += 2.0 * 9 * size * size * channels * v
            channels = v
    return flops


def report(name, device, ms, flops, note):
    ips = float(name.split(" N")[1].split()[0]) / (ms * 1e-3)
    print("%-48s | %-7s | %9.3f ms | %8.2f TFLOP/s | %.1f img/s | %s"
          % (name, device, ms, flops / (ms * 1e-3) / 1e12, ips, note), flush=True)


def median_ms_gpu(fn, warmup, reps):
    flush = torch.empty(256 << 20, dtype=torch.uint8, device="cuda")  # as our harness: flush L2
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    start, stop, times = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True), []
    for _ in range(reps):
        flush.zero_()
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return sorted(times)[len(times) // 2]


def median_ms_cpu(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return sorted(times)[len(times) // 2]


def bench_gpu(features, origin, batches, warmup, reps):
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    model = features.to(dev).eval().to(memory_format=torch.channels_last)
    model_bf16 = vgg16_features()[0].to(dev).eval().to(memory_format=torch.channels_last).to(torch.bfloat16)
    gpu = torch.cuda.get_device_name(0)
    for n in batches:
        x = torch.randn(n, 3, 224, 224, device=dev).to(memory_format=torch.channels_last)
        x16 = x.to(torch.bfloat16)
        flops = base_flops() * n
        with torch.inference_mode():
            for precision in ("fp32", "tf32"):
                torch.backends.cudnn.allow_tf32 = precision == "tf32"
                torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
                ms = median_ms_gpu(lambda: model(x), warmup, reps)
                report("vgg16 base %s N%d 224x224" % (precision, n), "cuda:0", ms, flops,
                       "torch %s, %s, channels_last, %s" % (torch.__version__, origin, gpu))

            def autocast():
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    return model(x)

            ms_auto = median_ms_gpu(autocast, warmup, reps)
            ms_pure = median_ms_gpu(lambda: model_bf16(x16), warmup, reps)
            best, other = ("autocast", "bf16 model") if ms_auto <= ms_pure else ("bf16 model", "autocast")
            report("vgg16 base bf16 N%d 224x224" % n, "cuda:0", min(ms_auto, ms_pure), flops,
                   "torch %s, %s, channels_last, %s (%s %.3f ms)" % (torch.__version__, best, gpu, other,
                                                                   max(ms_auto, ms_pure)))


def cpu_isa():
    try:
        return "capability " + torch.backends.cpu.get_cpu_capability()
    except AttributeError:  # torch < 2.0
        try:
            with open("/proc/cpuinfo") as f:
                flags = next(line for line in f if line.startswith("flags")).split()
        except (OSError, StopIteration):
            return "isa unknown"
        for flag, name in (("amx_bf16", "amx_bf16"), ("avx512_bf16", "avx512_bf16"), ("avx512f", "avx512"),
                           ("avx2", "avx2")):
            if flag in flags:
                return "cpu " + name
        return "cpu without avx2"


def bench_cpu(features, origin, batches, reps):
    torch.set_num_threads(os.cpu_count())
    model = features.eval()
    model_cl = vgg16_features()[0].eval().to(memory_format=torch.channels_last)
    model_cl.load_state_dict(model.state_dict())
    for n in batches:
        x = torch.randn(n, 3, 224, 224)
        x_cl = x.contiguous(memory_format=torch.channels_last)
        r = reps if n == 1 else max(2, reps // 4)
        with torch.inference_mode():
            ms_cl = median_ms_cpu(lambda: model_cl(x_cl), 1, r)
            ms_nchw = median_ms_cpu(lambda: model(x), 1, r)
        best, other = ("channels_last", "nchw") if ms_cl <= ms_nchw else ("nchw", "channels_last")
        report("vgg16 base fp32 N%d 224x224" % n, "cpu", min(ms_cl, ms_nchw), base_flops() * n,
               "torch %s, %s, %s, %d threads (%s %.1f ms)" % (torch.__version__, origin, best,
                                                              torch.get_num_threads(), other,
                                                              max(ms_cl, ms_nchw)))

        def autocast():
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return model_cl(x_cl)

        with torch.inference_mode():
            ms_bf16 = median_ms_cpu(autocast, 1, r)
        report("vgg16 base bf16 N%d 224x224" % n, "cpu", ms_bf16, base_flops() * n,
               "torch %s, %s, autocast bf16, channels_last, %d threads, %s"
               % (torch.__version__, origin, torch.get_num_threads(), cpu_isa()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions and batch sizes")
    ap.add_argument("--reps", type=int, default=None)
    ap.add_argument("--cpu-only", action="store_true")
    ap.add_argument("--gpu-only", action="store_true")
    a = ap.parse_args()
    reps = a.reps or (5 if a.quick else 20)
    warmup = 2 if a.quick else 3
    torch.manual_seed(0)
    features, origin = vgg16_features()
    if not a.gpu_only:
        bench_cpu(features, origin, [1] if a.quick else [1, 8, 30], reps)
    if not a.cpu_only:
        if torch.cuda.is_available():
            bench_gpu(features, origin, [30, 256] if a.quick else [1, 30, 256], warmup, reps)
        else:
            print("%-48s | skipped: torch sees no CUDA device" % "vgg16 base (gpu)")


if __name__ == "__main__":
    main()
