//! State dicts: a module's parameters and buffers by dotted name.

use lamina_core::{Element, Tensor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashMap;
use std::fmt;

/// Named tensors in registration order, like PyTorch's `state_dict()`.
#[derive(Clone, Debug, Default)]
pub struct StateDict<E: Element> {
    entries: Vec<(String, Tensor<E>)>,
    index: HashMap<String, usize>,
}

impl<E: Element> StateDict<E> {
    /// An empty state dict.
    pub fn new() -> Self {
        StateDict { entries: Vec::new(), index: HashMap::new() }
    }

    /// Adds (or replaces) an entry.
    pub fn insert(&mut self, name: &str, t: Tensor<E>) {
        match self.index.get(name) {
            Some(&i) => self.entries[i].1 = t,
            None => {
                self.index.insert(name.to_owned(), self.entries.len());
                self.entries.push((name.to_owned(), t));
            }
        }
    }

    /// The entry called `name`.
    pub fn get(&self, name: &str) -> Option<&Tensor<E>> {
        self.index.get(name).map(|&i| &self.entries[i].1)
    }

    /// Entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor<E>)> {
        self.entries.iter().map(|(n, t)| (n.as_str(), t))
    }

    /// Names in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<E: Element> FromIterator<(String, Tensor<E>)> for StateDict<E> {
    fn from_iter<I: IntoIterator<Item = (String, Tensor<E>)>>(iter: I) -> Self {
        let mut sd = StateDict::new();
        for (n, t) in iter {
            sd.insert(&n, t);
        }
        sd
    }
}

/// Saved as a sequence of `(name, tensor)` pairs, in order.
impl<E: Element + Serialize> Serialize for StateDict<E> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.entries.iter())
    }
}

/// Reading rejects a name that occurs twice.
impl<'de, E: Element + Deserialize<'de>> Deserialize<'de> for StateDict<E> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let entries = Vec::<(String, Tensor<E>)>::deserialize(d)?;
        let mut sd = StateDict::new();
        for (name, t) in entries {
            if sd.get(&name).is_some() {
                return Err(serde::de::Error::custom(format!("state dict entry `{name}` occurs twice")));
            }
            sd.insert(&name, t);
        }
        Ok(sd)
    }
}

/// Why a state dict does not fit a module: every problem at once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateDictError {
    /// Keys the module has and the state dict lacks.
    pub missing: Vec<String>,
    /// Keys the state dict has and the module lacks.
    pub unexpected: Vec<String>,
    /// Keys in both whose shapes differ: (name, module's shape, state dict's shape).
    pub mismatched: Vec<(String, Vec<usize>, Vec<usize>)>,
}

impl StateDictError {
    /// Compares what a module has (`mine`) with what is offered (`theirs`).
    pub fn compare<E: Element>(mine: &StateDict<E>, theirs: &StateDict<E>) -> Self {
        let mut err = StateDictError::default();
        for (name, t) in mine.iter() {
            match theirs.get(name) {
                None => err.missing.push(name.to_owned()),
                Some(o) if o.shape() != t.shape() => {
                    err.mismatched.push((name.to_owned(), t.shape().to_vec(), o.shape().to_vec()))
                }
                Some(_) => {}
            }
        }
        err.unexpected = theirs.keys().filter(|k| mine.get(k).is_none()).map(str::to_owned).collect();
        err
    }

    /// Whether everything matched.
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.mismatched.is_empty()
    }
}

impl fmt::Display for StateDictError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "load_state_dict: the state dict does not fit the module")?;
        if !self.missing.is_empty() {
            write!(f, "; missing keys: {}", self.missing.join(", "))?;
        }
        if !self.unexpected.is_empty() {
            write!(f, "; unexpected keys: {}", self.unexpected.join(", "))?;
        }
        for (name, want, got) in &self.mismatched {
            write!(f, "; size mismatch for {name}: the module has {want:?}, the state dict {got:?}")?;
        }
        Ok(())
    }
}

impl std::error::Error for StateDictError {}
