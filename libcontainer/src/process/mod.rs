//! The container's init process: the sync channel and init's side of create.
pub mod channel;
pub mod init;
