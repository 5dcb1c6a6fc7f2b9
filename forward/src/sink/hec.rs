//! Splunk HTTP Event Collector sink (issue #9; being built).
