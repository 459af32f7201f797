//! A checkpoint coordinator for operator tests: the cut pending, the state each step of
//! each worker saved at it, the state a restored run starts from.
// Not every test binary uses every piece of the support module.
#![allow(dead_code)]

use highwater_operators::operator::CutHooks;
use highwater_operators::time::Time;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// What the hooks of every worker share: the cut pending, the state saved at it, the
/// state restored.
#[derive(Default)]
pub struct Board {
    pub cut: Option<Time>,
    pub saved: BTreeMap<(usize, String), Vec<u8>>,
    pub restored: BTreeMap<String, Vec<Vec<u8>>>,
    pub failed: Vec<String>,
}

impl Board {
    /// A board whose restored state is what `saved` holds, by step.
    pub fn restoring(saved: BTreeMap<(usize, String), Vec<u8>>) -> Board {
        let mut restored: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
        for ((_, step), bytes) in saved {
            restored.entry(step).or_default().push(bytes);
        }
        Board { restored, ..Board::default() }
    }
}

/// One worker's hooks on the board.
pub struct Hooks {
    pub board: Arc<Mutex<Board>>,
    pub worker: usize,
}

impl CutHooks for Hooks {
    fn register(&self, _step: &str) {}
    fn pending(&self, step: &str) -> Option<Time> {
        let b = self.board.lock().unwrap();
        b.cut.filter(|_| !b.saved.contains_key(&(self.worker, step.to_string())))
    }
    fn save(&self, step: &str, cut: Time, state: Vec<u8>) {
        let mut b = self.board.lock().unwrap();
        assert_eq!(b.cut, Some(cut));
        b.saved.insert((self.worker, step.to_string()), state);
    }
    fn restored(&self, step: &str) -> Vec<Vec<u8>> {
        self.board.lock().unwrap().restored.get(step).cloned().unwrap_or_default()
    }
    fn fail(&self, step: &str, message: String) {
        self.board.lock().unwrap().failed.push(format!("{step}: {message}"));
    }
}
