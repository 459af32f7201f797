use super::{Window, WindowFn};

/// The single global window (Beam's `GlobalWindows`): it ends only with the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Global;

impl WindowFn for Global {
    fn assign(&self, _t: i64, out: &mut Vec<Window>) {
        out.push(Window::GLOBAL);
    }
    fn describe(&self) -> String {
        "global".into()
    }
}
