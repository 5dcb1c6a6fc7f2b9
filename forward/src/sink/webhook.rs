//! Kubernetes audit webhook sink: POSTs `audit.k8s.io/v1` `EventList`
//! batches over HTTPS (issue #9; being built).
