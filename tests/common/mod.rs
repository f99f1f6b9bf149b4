//! Shared by the integration tests (each test file declares `mod common;` and uses what it needs):
//! fixtures and golden files, envelopes built and read back, and a moto_server with the
//! CloudWatch Logs calls that read what a test wrote.
// Each test binary uses a part: the rest would warn as unused there.
#![allow(dead_code, unused_imports)]

mod envelope;
mod fixtures;
mod moto;
mod process;
mod recorded;

pub use envelope::*;
pub use fixtures::*;
pub use moto::*;
pub use process::*;
pub use recorded::*;
