//! wrt-train: see ../shared/design.md. Built in a later issue.
