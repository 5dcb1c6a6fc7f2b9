//! ecs rendering (issue #9; being built).
