//! k8s_audit rendering (issue #9; being built).
