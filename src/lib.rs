//! clipwarden: a CCTV footage retention controller.
//!
//! Data flows one way: the scanner finds clips, markers and the registry give holds, the pure
//! planner in [`policy`] turns them into a plan with reasons, the executor applies it, and the
//! audit log records it. Only the edges touch the filesystem or read the clock.

pub mod audit;
pub mod digest;
pub mod exit;
pub mod lock;
