//! Checkpoints that never lose work, and PyTorch weights in and out.
//!
//! A [`Checkpoint`] holds a model's state dict and, for a training
//! checkpoint, a [`TrainingState`] (optimizer, scheduler, step, epoch and the
//! default random generator). [`Checkpoint::save`] writes atomically (see
//! [`write_atomic`]); [`Checkpoint::load`] checks magic, version, element
//! type, length and CRC-32 before trusting anything, and says what is wrong
//! with a bad file instead of panicking. The byte layout is described in
//! [`format`].
//!
//! ```
//! # fn main() -> Result<(), lamina::checkpoint::CheckpointError> {
//! use lamina::checkpoint::Checkpoint;
//! use lamina::layers::{Linear, ModuleExt};
//! let dir = std::env::temp_dir().join(format!("lamina-doc-ckpt-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("model.lamina");
//!
//! let model = Linear::<f32>::new(3, 2, true);
//! Checkpoint::of_module(&model).save(&path)?;
//!
//! let copy = Linear::<f32>::new(3, 2, true);
//! Checkpoint::<f32>::load(&path)?.load_into(&copy)?;
//! assert_eq!(copy.weight.to_vec(), model.weight.to_vec());
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok(())
//! # }
//! ```

mod atomic;
mod error;
pub mod format;
mod inspect;
mod safetensors;

pub use atomic::write_atomic;
pub use error::CheckpointError;
pub use format::ElementType;
pub use inspect::{inspect, inspect_bytes, EntryInfo, FileKind, Inspection};
pub use safetensors::{load_safetensors, safetensors_from_bytes, safetensors_to_bytes, save_safetensors};

use bincode::Options;
use lamina_core::{default_generator_state, set_default_generator_state, Element, Tensor};
use lamina_layers::{ModuleExt, StateDict};
use lamina_optim::{AnyOptimizer, LrScheduler, OptimizerState, SchedulerState};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Where a training run stands: everything besides the model's weights that
/// a resumed run needs to continue exactly as if it had never stopped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingState {
    /// Optimizer steps taken so far.
    pub step: u64,
    /// Epochs completed so far.
    pub epoch: u64,
    /// The default random generator's state (dropout, `randn`, ...).
    pub rng: [u64; 4],
    /// The optimizer's state (its buffers by parameter name, its groups' options).
    pub optimizer: OptimizerState,
    /// The learning-rate scheduler's progress, if there is one.
    pub scheduler: Option<SchedulerState>,
}

/// Where a restored run resumes: what [`Checkpoint::restore`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Optimizer steps taken before the checkpoint.
    pub step: u64,
    /// Epochs completed before the checkpoint.
    pub epoch: u64,
}

/// The contents of a `.lamina` file: named tensors and, for a training
/// checkpoint, the training state.
#[derive(Clone, Debug)]
pub struct Checkpoint<E: Element = f32> {
    /// The model's parameters and buffers by state-dict name.
    pub model: StateDict<E>,
    /// The training state, for a training checkpoint; `None` for weights only.
    pub training: Option<TrainingState>,
}

/// bincode settings for the training state: fixed-width integers,
/// little-endian, trailing bytes refused.
fn bincode_options() -> impl Options {
    bincode::DefaultOptions::new().with_fixint_encoding().with_little_endian()
}

impl<E: Element> Checkpoint<E> {
    /// A weights-only checkpoint of `model`'s state dict.
    pub fn of_module(model: &(impl ModuleExt<E> + ?Sized)) -> Self {
        Checkpoint { model: model.state_dict(), training: None }
    }

    /// A training checkpoint: the model, the optimizer, the scheduler, the
    /// step and epoch counters and the default random generator's state.
    pub fn training(
        model: &(impl ModuleExt<E> + ?Sized),
        optimizer: &dyn AnyOptimizer<E>,
        scheduler: Option<&dyn LrScheduler>,
        step: u64,
        epoch: u64,
    ) -> Self {
        let training = TrainingState {
            step,
            epoch,
            rng: default_generator_state(),
            optimizer: optimizer.state_dict(),
            scheduler: scheduler.map(|s| s.state()),
        };
        Checkpoint { model: model.state_dict(), training: Some(training) }
    }

    /// Copies the weights into `model`. Strict: any missing, unexpected or
    /// shape-mismatched key is an error listing them all, and nothing changes.
    pub fn load_into(&self, model: &(impl ModuleExt<E> + ?Sized)) -> Result<(), CheckpointError> {
        Ok(model.load_state_dict(&self.model)?)
    }

    /// Resumes a run: the model's weights, the optimizer's and scheduler's
    /// state and the default random generator, so that training on continues
    /// bit for bit as the saved run would have. Nothing changes unless the
    /// model's keys, the optimizer's state and the scheduler's state all fit.
    pub fn restore(
        &self,
        model: &(impl ModuleExt<E> + ?Sized),
        optimizer: &mut dyn AnyOptimizer<E>,
        scheduler: Option<&mut dyn LrScheduler>,
    ) -> Result<Progress, CheckpointError> {
        let t = self.training.as_ref().ok_or(CheckpointError::NoTrainingState)?;
        let keys = lamina_layers::StateDictError::compare(&model.state_dict(), &self.model);
        if !keys.is_empty() {
            return Err(keys.into());
        }
        let mismatch = |msg: String| CheckpointError::Optimizer(lamina_optim::OptimError::StateMismatch(msg));
        match (scheduler, &t.scheduler) {
            (Some(s), Some(saved)) => {
                let before = s.state();
                s.load_state(saved)?;
                if let Err(e) = optimizer.load_state_dict(&t.optimizer) {
                    s.load_state(&before).expect("a scheduler takes back its own state");
                    return Err(e.into());
                }
            }
            (None, None) => optimizer.load_state_dict(&t.optimizer)?,
            (Some(_), None) => {
                return Err(mismatch("a scheduler was given, the checkpoint has no scheduler state".into()))
            }
            (None, Some(saved)) => {
                return Err(mismatch(format!(
                    "the checkpoint has the state of a {}, no scheduler was given",
                    saved.scheduler
                )))
            }
        }
        model.load_state_dict(&self.model)?;
        set_default_generator_state(t.rng);
        Ok(Progress { step: t.step, epoch: t.epoch })
    }

    /// The file's bytes (see [`format`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let state = bincode_options().serialize(&self.training).expect("bincode: the training state serializes");
        format::encode(&self.model.iter().collect::<Vec<_>>(), &state)
    }

    /// Reads a checkpoint from its bytes, checking everything first.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CheckpointError> {
        let header = format::parse_header(bytes)?;
        check_element_type::<E>(header.elem)?;
        let parsed = format::parse(bytes)?;
        let training = decode_training(parsed.state)?;
        let elem = parsed.header.elem;
        let model = parsed
            .entries
            .into_iter()
            .map(|e| (e.name, Tensor::from_vec(elem.decode(e.data).map(E::of).collect(), &e.shape)))
            .collect();
        Ok(Checkpoint { model, training })
    }

    /// Saves atomically: a crash or a full disk during the save leaves the
    /// previous file at `path` intact.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), CheckpointError> {
        let bytes = self.to_bytes();
        write_atomic(path, |w| w.write_all(&bytes))
    }

    /// Loads a checkpoint, rejecting a file of another format, version or
    /// element type after reading only its 32-byte header.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, CheckpointError> {
        let bytes = read_checked(path.as_ref(), Some(ElementType::of::<E>()))?;
        Self::from_bytes(&bytes)
    }
}

/// Decodes the training state found at `(offset, bytes)`, reading no more
/// than those bytes.
pub(crate) fn decode_training((at, bytes): (u64, &[u8])) -> Result<Option<TrainingState>, CheckpointError> {
    bincode_options().with_limit(bytes.len() as u64).deserialize(bytes).map_err(|e| CheckpointError::Malformed {
        at,
        what: format!("the training state ({} bytes) does not decode: {e}", bytes.len()),
    })
}

fn check_element_type<E: Element>(file: ElementType) -> Result<(), CheckpointError> {
    let wanted = ElementType::of::<E>();
    if file != wanted {
        return Err(CheckpointError::WrongElementType { file, wanted });
    }
    Ok(())
}

/// Reads a lamina file's header, checks it (and the element type, if given)
/// and the file's length, and only then reads the rest.
pub(crate) fn read_checked(path: &Path, elem: Option<ElementType>) -> Result<Vec<u8>, CheckpointError> {
    let io = |action| move |source| CheckpointError::Io { action, path: path.to_owned(), source };
    let mut file = File::open(path).map_err(io("open"))?;
    let actual = file.metadata().map_err(io("read"))?.len();
    let mut head = Vec::with_capacity(format::HEADER_LEN);
    (&mut file).take(format::HEADER_LEN as u64).read_to_end(&mut head).map_err(io("read"))?;
    let header = format::parse_header(&head)?;
    if let Some(wanted) = elem {
        if header.elem != wanted {
            return Err(CheckpointError::WrongElementType { file: header.elem, wanted });
        }
    }
    format::check_length(&header, actual)?;
    // The file is as long as its header says: reading it allocates no more.
    let mut bytes = head;
    bytes.reserve_exact((header.file_len as usize).saturating_sub(bytes.len()));
    file.take(header.file_len - format::HEADER_LEN as u64).read_to_end(&mut bytes).map_err(io("read"))?;
    Ok(bytes)
}
