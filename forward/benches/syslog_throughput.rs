//! Forwarding throughput to a real rsyslogd (issue #9); being written.
fn main() {}
