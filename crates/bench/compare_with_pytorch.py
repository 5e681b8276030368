"""Times lamina-bench against ../shared/bench/torch_bench.py, interleaved.

For each round, workload and thread count (1 and 2), one process runs the
workload with lamina and one with PyTorch (the order alternating by round),
each under /usr/bin/time, so that each pair shares the same seconds of a
noisy host. Prints each pair as it runs, then per workload and thread count
the median times, the median of the per-round ratios lamina / PyTorch, their
range and the peak resident memory of each.

    cargo build --release -p lamina-bench
    python3 crates/bench/compare_with_pytorch.py --rounds 7
"""
import argparse
import collections
import statistics
import subprocess

WORKLOADS = ["mlp", "cnn", "lstm", "transformer", "overhead", "matmul"]


def run(cmd, workload):
    """The workload's ms per step and the process's peak RSS in MiB."""
    p = subprocess.run(["/usr/bin/time", "-f", "RSS %M"] + cmd, capture_output=True, text=True, check=True)
    ms = next(float(l.split()[1]) for l in p.stdout.splitlines() if l.startswith(workload + " "))
    kib = next(int(l.split()[1]) for l in p.stderr.splitlines() if l.startswith("RSS "))
    return ms, kib / 1024


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--binary", default="target/release/lamina-bench")
    p.add_argument("--torch-bench", default="../shared/bench/torch_bench.py")
    p.add_argument("--only", default=",".join(WORKLOADS))
    args = p.parse_args()
    times, rss = collections.defaultdict(list), collections.defaultdict(list)
    for r in range(args.rounds):
        for w in args.only.split(","):
            for t in (1, 2):
                lamina = lambda: run([args.binary, "--threads", str(t), "--only", w], w)
                torch = lambda: run(["python3", args.torch_bench, "--threads", str(t), "--only", w], w)
                if r % 2 == 0:
                    a, b = lamina(), torch()
                else:
                    b, a = torch(), lamina()
                times[(w, t)].append((a[0], b[0]))
                rss[(w, t)].append((a[1], b[1]))
                print(r, w, t, a[0], b[0], round(a[0] / b[0], 3), flush=True)
    print("workload threads lamina_ms torch_ms ratio ratio_range lamina_rss_mib torch_rss_mib")
    for (w, t), pairs in times.items():
        ratios = [x / y for x, y in pairs]
        lam, tor = statistics.median(x for x, _ in pairs), statistics.median(y for _, y in pairs)
        mem = [max(m[i] for m in rss[(w, t)]) for i in (0, 1)]
        print(f"{w} {t} {lam:.3f} {tor:.3f} {statistics.median(ratios):.3f} "
              f"{min(ratios):.3f}-{max(ratios):.3f} {mem[0]:.0f} {mem[1]:.0f}")


if __name__ == "__main__":
    main()
