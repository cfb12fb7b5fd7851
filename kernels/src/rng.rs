//! TODO(this session): being written.
