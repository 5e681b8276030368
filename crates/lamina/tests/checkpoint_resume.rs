//! A training checkpoint resumes bit for bit: training N steps straight gives
//! exactly the parameters of training k steps, saving, loading into fresh
//! objects (after scrambling the random generator) and training N - k more.
//! The model has dropout, so the default generator's state matters; Adam
//! (with AMSGrad) and a cosine schedule carry state of their own.
//!
//! One test in its own binary: it owns the process-wide default generator.

use lamina::checkpoint::{Checkpoint, CheckpointError, Progress};
use lamina::core::{manual_seed, Generator, Tensor};
use lamina::layers::{Dropout, Forward, Linear, ModuleExt, Sequential, Tanh};
use lamina::optim::{Adam, CosineAnnealingLR, LrScheduler, Optimizer};

const N: u64 = 12;
const K: u64 = 5;

fn model() -> Sequential {
    Sequential::new()
        .append(Linear::new(4, 16, true))
        .append(Dropout::new(0.25))
        .append(Tanh::default())
        .append(Linear::new(16, 2, true))
}

fn optimizer(m: &Sequential) -> Optimizer<Adam> {
    Optimizer::new(m.named_parameters(), Adam { lr: 0.05, amsgrad: true, weight_decay: 0.01, ..Adam::default() })
}

/// The batch of step `step`: drawn from its own generator, so that the data
/// does not depend on the default generator the run itself uses.
fn batch(step: u64) -> (Tensor, Tensor) {
    let mut g = Generator::new(1000 + step);
    (Tensor::randn_with(&[8, 4], &mut g), Tensor::randn_with(&[8, 2], &mut g))
}

fn train(m: &Sequential, opt: &mut Optimizer<Adam>, sched: &mut CosineAnnealingLR, steps: std::ops::Range<u64>) {
    for step in steps {
        let (x, y) = batch(step);
        opt.zero_grad();
        let d = m.forward(&x) - y;
        (&d * &d).mean().backward();
        opt.step();
        sched.step(opt);
    }
}

fn bits(m: &Sequential) -> Vec<(String, Vec<u32>)> {
    m.state_dict().iter().map(|(n, t)| (n.to_owned(), t.to_vec().iter().map(|v| v.to_bits()).collect())).collect()
}

#[test]
fn resuming_from_a_training_checkpoint_continues_the_same_run_bit_for_bit() -> Result<(), CheckpointError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.lamina");

    // Straight through.
    manual_seed(7);
    let m = model();
    let mut opt = optimizer(&m);
    let mut sched = CosineAnnealingLR::new(&mut opt, 9, 0.001);
    train(&m, &mut opt, &mut sched, 0..N);
    let straight = bits(&m);

    // K steps, save, load into fresh objects, N - K more.
    manual_seed(7);
    let m = model();
    let mut opt = optimizer(&m);
    let mut sched = CosineAnnealingLR::new(&mut opt, 9, 0.001);
    train(&m, &mut opt, &mut sched, 0..K);
    Checkpoint::training(&m, &opt, Some(&sched), K, 1).save(&path)?;
    drop((m, opt, sched));

    manual_seed(12345); // a different generator state and different initial weights
    let m = model();
    let mut opt = optimizer(&m);
    let mut sched = CosineAnnealingLR::new(&mut opt, 9, 0.001);
    assert_ne!(bits(&m), straight);
    let progress = Checkpoint::<f32>::load(&path)?.restore(&m, &mut opt, Some(&mut sched))?;
    assert_eq!(progress, Progress { step: K, epoch: 1 });
    train(&m, &mut opt, &mut sched, progress.step..N);

    assert_eq!(bits(&m), straight, "the resumed run differs from the straight one");

    // Without restoring the generator (dropout masks differ) the runs part:
    // the test above really depends on the saved generator state.
    manual_seed(12345);
    let m2 = model();
    let mut opt2 = optimizer(&m2);
    let mut sched2 = CosineAnnealingLR::new(&mut opt2, 9, 0.001);
    let ck = Checkpoint::<f32>::load(&path)?;
    ck.restore(&m2, &mut opt2, Some(&mut sched2))?;
    manual_seed(99);
    train(&m2, &mut opt2, &mut sched2, K..N);
    assert_ne!(bits(&m2), straight);
    Ok(())
}
