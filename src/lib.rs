//! clipwarden: a CCTV footage retention controller.
//!
//! Data flows one way: the scanner finds clips, markers and the registry give holds, the pure
//! planner in [`policy`] turns them into a plan with reasons, the executor applies it, and the
//! audit log records it. Only the edges touch the filesystem or read the clock.

pub mod args;
pub mod atomic;
pub mod audit;
pub mod clip;
pub mod config;
pub mod daemon;
pub mod digest;
pub mod dirent;
pub mod execute;
pub mod exit;
pub mod export;
pub mod fsx;
pub mod guard;
pub mod holds;
pub mod human;
pub mod layout;
pub mod lock;
pub mod metrics;
pub mod pass;
pub mod paths;
pub mod policy;
pub mod pressure;
pub mod scan;
pub mod state;
pub mod timearg;
pub mod users;
