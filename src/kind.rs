//! kinds (stub)
