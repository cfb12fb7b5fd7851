//! wrt-nn: see ../shared/design.md. Built in a later issue.
