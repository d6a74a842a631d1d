//! Progress on stderr for runs that take more than a second, when stderr is a terminal: a
//! spinner with what is running and the time spent, erased when the run ends. Silent when
//! stderr is a file or a pipe, and for runs that end within the first second.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long a run goes before its spinner appears.
const SHOW_AFTER: Duration = Duration::from_secs(1);

/// A spinner for one phase of a run; dropping it erases it.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Starts timing `what`; the spinner shows after [`SHOW_AFTER`] if stderr is a terminal.
    pub fn start(what: String) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(what);
        let shown = bar.clone();
        std::thread::spawn(move || {
            std::thread::sleep(SHOW_AFTER);
            if !shown.is_finished() {
                shown.set_draw_target(ProgressDrawTarget::stderr());
                shown.enable_steady_tick(Duration::from_millis(120));
            }
        });
        Progress { bar: Some(bar) }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
