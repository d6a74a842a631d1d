//! Safe wrappers over `functorch.cpp`: functorch's interpreter stack (vmap, grad and jvp levels),
//! batched and grad-tracking wrappers, and the thread-local modes the transforms save and
//! restore. Every piece of state that a transform changes has an RAII guard here that restores
//! it on drop, so every exit path (a `?` out of the user's closure, a panic) leaves the stack and
//! the modes as they were.

use std::cell::Cell;
use std::ffi::{c_char, c_int};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard};

use tch::Tensor;
use torch_sys::C_tensor;

use super::{check, ptr};
use crate::error::{Error, Result};

extern "C" {
    fn tchdist_vmap_increment_nesting(
        batch_size: i64,
        randomness: c_int,
        level: *mut i64,
    ) -> *mut c_char;
    fn tchdist_vmap_decrement_nesting(level: *mut i64) -> *mut c_char;
    fn tchdist_grad_increment_nesting(level: *mut i64) -> *mut c_char;
    fn tchdist_grad_decrement_nesting(level: *mut i64) -> *mut c_char;
    fn tchdist_jvp_increment_nesting(level: *mut i64) -> *mut c_char;
    fn tchdist_jvp_decrement_nesting(level: *mut i64) -> *mut c_char;
    fn tchdist_add_batch_dim(
        t: *mut C_tensor,
        batch_dim: i64,
        level: i64,
        out: *mut *mut C_tensor,
    ) -> *mut c_char;
    fn tchdist_remove_batch_dim(
        t: *mut C_tensor,
        level: i64,
        batch_size: i64,
        out_dim: i64,
        out: *mut *mut C_tensor,
    ) -> *mut c_char;
    fn tchdist_wrap_for_grad(t: *mut C_tensor, level: i64, out: *mut *mut C_tensor) -> *mut c_char;
    fn tchdist_unwrap_for_grad(
        t: *mut C_tensor,
        level: i64,
        out: *mut *mut C_tensor,
    ) -> *mut c_char;
    fn tchdist_set_inplace_requires_grad_allowed(allowed: c_int, prev: *mut c_int) -> *mut c_char;
    fn tchdist_is_grad_enabled(out: *mut c_int) -> *mut c_char;
    fn tchdist_set_grad_enabled(enabled: c_int, prev: *mut c_int) -> *mut c_char;
    fn tchdist_set_fwd_grad_enabled(enabled: c_int, prev: *mut c_int) -> *mut c_char;
    fn tchdist_get_rng_state(out: *mut *mut C_tensor) -> *mut c_char;
    fn tchdist_set_rng_state(state: *mut C_tensor) -> *mut c_char;
    fn tchdist_enter_dual_level(level: *mut u64) -> *mut c_char;
    fn tchdist_exit_dual_level(level: u64) -> *mut c_char;
}

/// Takes ownership of a tensor the shim allocated with `new at::Tensor`.
fn owned(p: *mut C_tensor) -> Result<Tensor> {
    if p.is_null() {
        return Err(Error::Shim("functorch shim returned no tensor".into()));
    }
    // SAFETY: a non-null result is a fresh `new at::Tensor` that nobody else owns;
    // `Tensor::from_ptr` takes ownership and frees it on drop.
    Ok(unsafe { Tensor::from_ptr(p) })
}

/// Runs a shim call that fills one `at::Tensor*` slot and takes ownership of the result.
fn tensor_out(call: impl FnOnce(*mut *mut C_tensor) -> *mut c_char) -> Result<Tensor> {
    let mut out: *mut C_tensor = std::ptr::null_mut();
    check(call(&mut out))?;
    owned(out)
}

/// A vmap level on functorch's interpreter stack (`_vmap_increment_nesting`); dropping it pops
/// the level (`_vmap_decrement_nesting`).
pub(crate) struct VmapLevel {
    level: i64,
}

impl VmapLevel {
    /// Pushes a vmap level of `batch_size` with vmap's `randomness` mode as the shim numbers
    /// it: 0 error, 1 different, 2 same.
    pub(crate) fn push(batch_size: i64, randomness: c_int) -> Result<Self> {
        let mut level = 0i64;
        // SAFETY: `level` is a live i64 the shim writes once on success.
        check(unsafe { tchdist_vmap_increment_nesting(batch_size, randomness, &mut level) })?;
        Ok(VmapLevel { level })
    }

    /// The level's id, as `_add_batch_dim` and `_remove_batch_dim` take it.
    pub(crate) fn level(&self) -> i64 {
        self.level
    }
}

impl Drop for VmapLevel {
    fn drop(&mut self) {
        let mut popped = 0i64;
        // SAFETY: `popped` is a live i64 the shim writes once on success.
        let result = check(unsafe { tchdist_vmap_decrement_nesting(&mut popped) });
        debug_assert!(
            result.is_ok() && popped == self.level,
            "vmap level {} popped out of order",
            self.level
        );
    }
}

/// A grad level on functorch's interpreter stack (`_grad_increment_nesting`); dropping it pops
/// the level (`_grad_decrement_nesting`), which also restores inference mode.
pub(crate) struct GradLevel {
    level: i64,
}

impl GradLevel {
    /// Pushes a grad level, remembering the current grad mode.
    pub(crate) fn push() -> Result<Self> {
        let mut level = 0i64;
        // SAFETY: `level` is a live i64 the shim writes once on success.
        check(unsafe { tchdist_grad_increment_nesting(&mut level) })?;
        Ok(GradLevel { level })
    }

    /// The level's id, as `_wrap_for_grad` and `_unwrap_for_grad` take it.
    pub(crate) fn level(&self) -> i64 {
        self.level
    }
}

impl Drop for GradLevel {
    fn drop(&mut self) {
        let mut popped = 0i64;
        // SAFETY: `popped` is a live i64 the shim writes once on success.
        let result = check(unsafe { tchdist_grad_decrement_nesting(&mut popped) });
        debug_assert!(
            result.is_ok() && popped == self.level,
            "grad level {} popped out of order",
            self.level
        );
    }
}

thread_local! {
    /// `torch._functorch.eager_transforms.JVP_NESTING`, per thread (see [`DualLevel`]).
    static JVP_NESTING: Cell<usize> = const { Cell::new(0) };
}

/// A jvp level on functorch's interpreter stack (`enter_jvp_nesting`: `_jvp_increment_nesting`
/// and `JVP_NESTING += 1`); dropping it undoes both (`exit_jvp_nesting`).
pub(crate) struct JvpLevel {
    level: i64,
    nesting: usize,
}

impl JvpLevel {
    /// Pushes a jvp level, remembering the current forward-grad mode.
    pub(crate) fn push() -> Result<Self> {
        let mut level = 0i64;
        // SAFETY: `level` is a live i64 the shim writes once on success.
        check(unsafe { tchdist_jvp_increment_nesting(&mut level) })?;
        let nesting = JVP_NESTING.with(|n| {
            n.set(n.get() + 1);
            n.get()
        });
        Ok(JvpLevel { level, nesting })
    }

    /// The level's id, as `_wrap_for_grad` and `_unwrap_for_grad` take it.
    pub(crate) fn level(&self) -> i64 {
        self.level
    }

    /// `JVP_NESTING` after this level was pushed: 1 for the outermost jvp.
    pub(crate) fn nesting(&self) -> usize {
        self.nesting
    }
}

impl Drop for JvpLevel {
    fn drop(&mut self) {
        let mut popped = 0i64;
        // SAFETY: `popped` is a live i64 the shim writes once on success.
        let result = check(unsafe { tchdist_jvp_decrement_nesting(&mut popped) });
        JVP_NESTING.with(|n| n.set(n.get().saturating_sub(1)));
        debug_assert!(
            result.is_ok() && popped == self.level,
            "jvp level {} popped out of order",
            self.level
        );
    }
}

/// libtorch keeps forward-AD levels in one process-wide list and allows only level 0, so one
/// thread at a time may hold a dual level; the others wait here.
static DUAL_LEVEL_LOCK: Mutex<()> = Mutex::new(());

/// `torch.autograd.forward_ad._current_level`: the dual level in use, -1 when none.
static CURRENT_DUAL_LEVEL: AtomicI64 = AtomicI64::new(-1);

thread_local! {
    /// Whether this thread holds `DUAL_LEVEL_LOCK` (so a nested enter reaches libtorch's
    /// "Nested forward mode AD is not supported" error instead of deadlocking).
    static HOLDS_DUAL_LEVEL: Cell<bool> = const { Cell::new(false) };
}

/// `forward_ad.dual_level()`: enters a forward-AD level and exits it on drop, on every path.
#[derive(Debug)]
pub(crate) struct DualLevel {
    level: u64,
    _lock: Option<MutexGuard<'static, ()>>,
}

impl DualLevel {
    /// `enter_dual_level()`, with Python's check that the new level follows the current one.
    pub(crate) fn enter() -> Result<Self> {
        // A panic while another thread held the level leaves nothing to repair: the guard
        // exited that level on unwind.
        let lock = if HOLDS_DUAL_LEVEL.with(Cell::get) {
            None
        } else {
            Some(
                DUAL_LEVEL_LOCK
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            )
        };
        let mut level = 0u64;
        // SAFETY: `level` is a live u64 the shim writes once on success.
        check(unsafe { tchdist_enter_dual_level(&mut level) })?;
        let current = CURRENT_DUAL_LEVEL.load(Ordering::SeqCst);
        if i64::try_from(level).ok() != current.checked_add(1) {
            // SAFETY: `level` was entered just above and is exited exactly once.
            let _ = check(unsafe { tchdist_exit_dual_level(level) });
            return Err(Error::Runtime(
                "Entering a new forward AD level but the current level is not valid. Make sure \
                 you did not modify it directly."
                    .into(),
            ));
        }
        CURRENT_DUAL_LEVEL.store(current + 1, Ordering::SeqCst);
        if lock.is_some() {
            HOLDS_DUAL_LEVEL.with(|h| h.set(true));
        }
        Ok(DualLevel { level, _lock: lock })
    }

    /// The level index that `_make_dual`/`_unpack_dual` take.
    pub(crate) fn level(&self) -> i64 {
        self.level as i64
    }
}

impl Drop for DualLevel {
    fn drop(&mut self) {
        if self._lock.is_some() {
            HOLDS_DUAL_LEVEL.with(|h| h.set(false));
        }
        // SAFETY: this guard entered `self.level` and exits it exactly once, before releasing
        // the lock that keeps other threads from entering theirs.
        let result = check(unsafe { tchdist_exit_dual_level(self.level) });
        CURRENT_DUAL_LEVEL.fetch_sub(1, Ordering::SeqCst);
        debug_assert!(result.is_ok(), "exit_dual_level failed");
    }
}

/// `forward_ad._current_level`: the dual level `make_dual`/`unpack_dual` use by default.
pub(crate) fn current_dual_level() -> i64 {
    CURRENT_DUAL_LEVEL.load(Ordering::SeqCst)
}

/// `torch._C._functorch._add_batch_dim(t, batch_dim, level)`: a BatchedTensor.
pub(crate) fn add_batch_dim(t: &Tensor, batch_dim: i64, level: i64) -> Result<Tensor> {
    // SAFETY: `t` is a live tensor borrowed for the call; the shim only reads it and writes
    // one new handle into the slot `tensor_out` provides.
    tensor_out(|out| unsafe { tchdist_add_batch_dim(ptr(t), batch_dim, level, out) })
}

/// `torch._C._functorch._remove_batch_dim(t, level, batch_size, out_dim)`.
pub(crate) fn remove_batch_dim(
    t: &Tensor,
    level: i64,
    batch_size: i64,
    out_dim: i64,
) -> Result<Tensor> {
    // SAFETY: as in `add_batch_dim`.
    tensor_out(|out| unsafe { tchdist_remove_batch_dim(ptr(t), level, batch_size, out_dim, out) })
}

/// `torch._C._functorch._wrap_for_grad(t, level)`: a grad-tracking TensorWrapper.
pub(crate) fn wrap_for_grad(t: &Tensor, level: i64) -> Result<Tensor> {
    // SAFETY: as in `add_batch_dim`.
    tensor_out(|out| unsafe { tchdist_wrap_for_grad(ptr(t), level, out) })
}

/// `torch._C._functorch._unwrap_for_grad(t, level)`: the wrapped value if `t` wraps at `level`,
/// else `t` itself.
pub(crate) fn unwrap_for_grad(t: &Tensor, level: i64) -> Result<Tensor> {
    // SAFETY: as in `add_batch_dim`.
    tensor_out(|out| unsafe { tchdist_unwrap_for_grad(ptr(t), level, out) })
}

/// `torch.is_grad_enabled()`.
pub(crate) fn is_grad_enabled() -> Result<bool> {
    let mut out: c_int = 0;
    // SAFETY: `out` is a live int the shim writes once.
    check(unsafe { tchdist_is_grad_enabled(&mut out) })?;
    Ok(out != 0)
}

/// Which thread-local switch a [`ModeGuard`] holds.
#[derive(Clone, Copy)]
enum Mode {
    Grad,
    FwdGrad,
    InplaceRequiresGrad,
}

fn set_mode(mode: Mode, enabled: bool) -> Result<bool> {
    let mut prev: c_int = 0;
    let flag = c_int::from(enabled);
    // SAFETY: `prev` is a live int the shim writes once; the calls take no pointers otherwise.
    let err = unsafe {
        match mode {
            Mode::Grad => tchdist_set_grad_enabled(flag, &mut prev),
            Mode::FwdGrad => tchdist_set_fwd_grad_enabled(flag, &mut prev),
            Mode::InplaceRequiresGrad => tchdist_set_inplace_requires_grad_allowed(flag, &mut prev),
        }
    };
    check(err)?;
    Ok(prev != 0)
}

/// Sets a thread-local mode and restores the previous value on drop: `torch.enable_grad()`,
/// `forward_ad._set_fwd_grad_enabled(...)`, `enable_inplace_requires_grad(...)`.
pub(crate) struct ModeGuard {
    mode: Mode,
    prev: bool,
}

impl ModeGuard {
    /// `torch.set_grad_enabled(enabled)` for the guard's lifetime.
    pub(crate) fn grad(enabled: bool) -> Result<Self> {
        Self::set(Mode::Grad, enabled)
    }

    /// `torch.autograd.forward_ad._set_fwd_grad_enabled(enabled)` for the guard's lifetime.
    pub(crate) fn fwd_grad(enabled: bool) -> Result<Self> {
        Self::set(Mode::FwdGrad, enabled)
    }

    /// `enable_inplace_requires_grad(enabled)`: whether `requires_grad_()` is allowed inside a
    /// functorch transform, for the guard's lifetime.
    pub(crate) fn inplace_requires_grad(enabled: bool) -> Result<Self> {
        Self::set(Mode::InplaceRequiresGrad, enabled)
    }

    fn set(mode: Mode, enabled: bool) -> Result<Self> {
        let prev = set_mode(mode, enabled)?;
        Ok(ModeGuard { mode, prev })
    }
}

impl Drop for ModeGuard {
    fn drop(&mut self) {
        let result = set_mode(self.mode, self.prev);
        debug_assert!(result.is_ok(), "restoring a thread-local mode failed");
    }
}

/// `torch.get_rng_state()`: the default CPU generator's state.
pub(crate) fn get_rng_state() -> Result<Tensor> {
    // SAFETY: the shim writes one new handle into the slot `tensor_out` provides.
    tensor_out(|out| unsafe { tchdist_get_rng_state(out) })
}

/// `torch.set_rng_state(state)`.
pub(crate) fn set_rng_state(state: &Tensor) -> Result<()> {
    // SAFETY: `state` is a live tensor borrowed for the call; the shim only reads it.
    check(unsafe { tchdist_set_rng_state(ptr(state)) })
}
