//! STUB: to be filled in.
