//! lamina-bench: the workloads of BENCHMARKS.md, each timed as the median of
//! `--steps` steps (default 20) after 3 warm-up steps, printed as
//! `NAME MS_PER_STEP`.
//!
//! `cargo run --release -p lamina-bench -- [--threads N] [--only a,b] [--steps K] [--profile] [--gemm]`
//!
//! `--profile` also prints, per workload, the time per step spent in each op
//! family (GEMM, conv/im2col, element-wise, reductions, optimizer, tape) and
//! the rest; it is exact at `--threads 1` (worker threads are not counted).
//! `--gemm` instead prints the GFLOP/s of the workloads' matrix products.

mod gemm_shapes;
mod workloads;

use lamina::core::profile;
use std::time::Instant;

struct Args {
    threads: Option<usize>,
    only: Option<Vec<String>>,
    steps: usize,
    profile: bool,
    gemm: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { threads: None, only: None, steps: 20, profile: false, gemm: false };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--threads" => args.threads = Some(value()?.parse().map_err(|e| format!("--threads: {e}"))?),
            "--steps" => args.steps = value()?.parse().map_err(|e| format!("--steps: {e}"))?,
            "--profile" => args.profile = true,
            "--gemm" => args.gemm = true,
            "--only" => args.only = Some(value()?.split(',').map(str::to_owned).collect()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

/// Peak resident memory of this process so far, in MiB (Linux), if known.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// One `# profile` line per family: mean ms per step and share of the wall time.
fn print_profile(name: &str, p: &profile::Profile, total_ms: f64, steps: usize) {
    let per_step = |ms: f64| ms / steps as f64;
    let mut line = format!("# profile {name}:");
    let mut counted = 0.0;
    for family in profile::Family::ALL {
        let ms = p.time(family).as_secs_f64() * 1e3;
        counted += ms;
        line += &format!(" {} {:.3} ({:.0}%)", family.name(), per_step(ms), 100.0 * ms / total_ms);
    }
    let rest = (total_ms - counted).max(0.0);
    line += &format!(" other {:.3} ({:.0}%)", per_step(rest), 100.0 * rest / total_ms);
    println!("{line}");
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("lamina-bench: {e}");
        std::process::exit(2);
    });
    if let Some(n) = args.threads {
        lamina::core::set_num_threads(n);
    }
    let all = workloads::all();
    if let Some(only) = &args.only {
        if let Some(bad) = only.iter().find(|n| !all.iter().any(|w| &w.name == n)) {
            eprintln!("lamina-bench: unknown workload {bad}");
            std::process::exit(2);
        }
    }
    println!("# threads {}", lamina::core::num_threads());
    if args.gemm {
        gemm_shapes::run(args.steps);
        return;
    }
    for w in all {
        if args.only.as_ref().is_some_and(|o| !o.iter().any(|n| n == w.name)) {
            continue;
        }
        let mut step = (w.setup)();
        for _ in 0..3 {
            step();
        }
        profile::set_enabled(args.profile);
        profile::take();
        let mut times: Vec<f64> = (0..args.steps.max(1))
            .map(|_| {
                let t = Instant::now();
                step();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        profile::set_enabled(false);
        let total_ms: f64 = times.iter().sum();
        times.sort_by(f64::total_cmp);
        println!("{} {:.3}", w.name, times[times.len() / 2]);
        if args.profile {
            print_profile(w.name, &profile::take(), total_ms, times.len());
        }
    }
    if let Some(mib) = peak_rss_mib() {
        println!("# peak_rss_mib {mib:.1}");
    }
}
