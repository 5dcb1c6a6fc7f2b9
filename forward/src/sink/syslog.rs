//! syslog sink: RFC 5424 messages over TCP with octet-counting framing
//! (RFC 6587), or over TLS (RFC 5425) (issue #9; being built).
