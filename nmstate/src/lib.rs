//! nmstate's desired-state schema (the subset metalroute supports) and its application to the
//! kernel through netlink, with read-back verification, checkpoints and rollback.
