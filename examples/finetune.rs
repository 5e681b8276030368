//! Fine-tuning: pretrain a network on the digits 0-4, give it a new 10-class
//! head, train the head alone with the body frozen, then unfreeze the body
//! with a smaller learning rate than the head's (layer-wise learning rates,
//! as parameter groups), clipping gradient norms; save a training checkpoint
//! midway and resume from it in a fresh model, checking the resumed run ends
//! bit for bit where the uninterrupted one does.
//!
//! Run with `cargo run --release --example finetune` (add `-- --max-steps N`
//! to stop after N steps).

mod common;

use indicatif::ProgressBar;
use lamina::checkpoint::Checkpoint;
use lamina::core::{cross_entropy, CrossEntropyOptions};
use lamina::data::{Dataset, Normalize};
use lamina::layers::{parts, Forward, Linear, ModuleExt, ReLU, Sequential};
use lamina::optim::{clip_grad_norm, Adam, GroupSpec, Optimizer};
use lamina::prelude::*;

/// A feature extractor (`body.*`) and a classifier (`head.*`).
struct Net {
    body: Sequential,
    head: Linear,
}
parts!(Net: f32 { body, head });

impl Forward for Net {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.head.call(&self.body.call(x))
    }
}

fn body() -> Sequential {
    Sequential::new()
        .append(Linear::new(64, 128, true))
        .append(ReLU::new())
        .append(Linear::new(128, 64, true))
        .append(ReLU::new())
}

/// The fine-tuning optimizer: Adam at 1e-2 for the head, 1e-3 for the body.
fn finetune_optimizer(net: &Net) -> Optimizer<Adam> {
    let specs = [GroupSpec::matching(["body.*"]).lr(1e-3)];
    Optimizer::with_groups(net.named_parameters(), Adam { lr: 1e-2, ..Adam::default() }, &specs).unwrap()
}

/// One shuffled epoch of `data`, gradient norms clipped to 1; stops at the
/// bar's length (`--max-steps`). Returns the mean loss.
fn train_epoch(net: &Net, opt: &mut Optimizer<Adam>, data: &Dataset, epoch: u64, bar: &ProgressBar) -> f32 {
    let (mut total, mut count) = (0.0, 0);
    for batch in data.loader(64).shuffle(0).epoch(epoch) {
        if Some(bar.position()) == bar.length() {
            break;
        }
        let loss = cross_entropy(&net.forward(&batch.inputs), &batch.labels, &CrossEntropyOptions::default());
        opt.zero_grad();
        loss.backward();
        clip_grad_norm(opt.params(), 1.0, 2.0, false).unwrap();
        opt.step();
        total += loss.item();
        count += 1;
        bar.inc(1);
    }
    total / count.max(1) as f32
}

fn main() {
    manual_seed(0);
    let (mut train, mut test) = common::digits();
    let norm = Normalize::fit(&train.inputs);
    train.inputs = norm.apply(&train.inputs).reshape(&[train.len(), 64]);
    test.inputs = norm.apply(&test.inputs).reshape(&[test.len(), 64]);
    let low: Vec<usize> = (0..train.len()).filter(|&i| train.labels.as_slice()[i] < 5).collect();
    let train_low = train.select(&low);

    let batches = |d: &Dataset| d.len().div_ceil(64);
    let bar = common::progress(common::steps_to_run(5 * batches(&train_low) + 8 * batches(&train)));
    let say = |what: String| bar.suspend(|| println!("{what}"));

    // 1. Pretrain body + a 5-class head on the digits 0-4.
    let pretrained = Net { body: body(), head: Linear::new(64, 5, true) };
    let mut opt = Optimizer::new(pretrained.named_parameters(), Adam { lr: 1e-3, ..Adam::default() });
    for epoch in 0..5 {
        let loss = train_epoch(&pretrained, &mut opt, &train_low, epoch, &bar);
        say(format!("pretrain epoch {}: loss {loss:.4}", epoch + 1));
    }

    // 2. Keep the body, replace the head; train the head alone.
    let Net { body: trained_body, .. } = pretrained;
    let net = Net { body: trained_body, head: Linear::new(64, 10, true) };
    net.body.freeze(true);
    let mut opt = finetune_optimizer(&net);
    for epoch in 0..2 {
        let loss = train_epoch(&net, &mut opt, &train, epoch, &bar);
        say(format!("head only, epoch {}: loss {loss:.4}", epoch + 1));
    }

    // 3. Unfreeze the body (learning rate 1e-3 against the head's 1e-2).
    net.body.freeze(false);
    let dir = std::env::temp_dir().join(format!("lamina-finetune-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("finetune.lamina");
    for epoch in 2..8 {
        if epoch == 5 {
            Checkpoint::training(&net, &opt, None, bar.position(), epoch).save(&path).unwrap();
            say(format!("saved a training checkpoint after {epoch} epochs to {}", path.display()));
        }
        let loss = train_epoch(&net, &mut opt, &train, epoch, &bar);
        say(format!("whole network, epoch {}: loss {loss:.4}", epoch + 1));
    }
    bar.finish();
    let acc = common::accuracy(&test, |x| net.forward(x));

    // 4. Resume from the checkpoint in a fresh model and optimizer.
    let resumed = Net { body: body(), head: Linear::new(64, 10, true) };
    let mut opt2 = finetune_optimizer(&resumed);
    let progress = Checkpoint::<f32>::load(&path).unwrap().restore(&resumed, &mut opt2, None).unwrap();
    // A hidden bar at the saved step, so `--max-steps` stops both runs alike.
    let quiet = ProgressBar::hidden();
    quiet.set_length(bar.length().unwrap_or(u64::MAX));
    quiet.set_position(progress.step);
    for epoch in progress.epoch..8 {
        train_epoch(&resumed, &mut opt2, &train, epoch, &quiet);
    }
    let same =
        net.named_parameters().iter().zip(resumed.named_parameters()).all(|((_, a), (_, b))| a.to_vec() == b.to_vec());
    std::fs::remove_dir_all(&dir).ok();
    println!(
        "resumed from epoch {}: {}",
        progress.epoch,
        if same { "ends bit for bit where the uninterrupted run does" } else { "DIFFERS from the uninterrupted run" }
    );
    println!("test accuracy on all 10 digits: {:.2}%", 100.0 * acc);
}
