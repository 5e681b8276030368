//! lamina-bench: the workloads of BENCHMARKS.md, each timed as the median of
//! `--steps` steps (default 20) after 3 warm-up steps, printed as
//! `NAME MS_PER_STEP`.
//!
//! `cargo run --release -p lamina-bench -- [--threads N] [--only a,b] [--steps K]`

mod workloads;

use std::time::Instant;

struct Args {
    threads: Option<usize>,
    only: Option<Vec<String>>,
    steps: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { threads: None, only: None, steps: 20 };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--threads" => args.threads = Some(value()?.parse().map_err(|e| format!("--threads: {e}"))?),
            "--steps" => args.steps = value()?.parse().map_err(|e| format!("--steps: {e}"))?,
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
    for w in all {
        if args.only.as_ref().is_some_and(|o| !o.iter().any(|n| n == w.name)) {
            continue;
        }
        let mut step = (w.setup)();
        for _ in 0..3 {
            step();
        }
        let mut times: Vec<f64> = (0..args.steps.max(1))
            .map(|_| {
                let t = Instant::now();
                step();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!("{} {:.3}", w.name, times[times.len() / 2]);
    }
    if let Some(mib) = peak_rss_mib() {
        println!("# peak_rss_mib {mib:.1}");
    }
}
