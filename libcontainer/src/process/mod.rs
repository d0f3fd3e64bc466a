//! Container processes: the sync channels, init's side of create, exec's
//! side of `exec`, and the steps both take last before running the process.
pub mod channel;
pub mod exec;
pub mod finalize;
pub mod init;
pub mod trampoline;
