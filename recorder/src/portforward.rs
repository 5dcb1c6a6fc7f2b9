//! Port-forward accounting: which ports, how many bytes each way, never the
//! payload.
//!
//! Two wire forms reach the proxy:
//! - kubectl 1.32 tunnels SPDY/3.1 inside WebSocket
//!   (`SPDY/3.1+portforward.k8s.io`): binary messages carry a raw SPDY byte
//!   stream. Each forwarded connection opens a `streamtype: data` and a
//!   `streamtype: error` stream whose `port` header names the pod port;
//!   DATA frames on data streams are the forwarded bytes. (Plain SPDY
//!   port-forward carries the same byte stream without the WebSocket layer.)
//! - the Python client's channel form (`v4.channel.k8s.io`, `?ports=a,b`):
//!   channel `2*i` is port `i`'s data, `2*i+1` its errors; the server starts
//!   each channel with the port number as 2 little-endian bytes.

use std::collections::{BTreeMap, HashMap};

use crate::spdy::{header, Frame, FrameReader};

/// Bytes forwarded for one pod port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortBytes {
    /// User to pod.
    pub client_to_pod: u64,
    /// Pod to user.
    pub pod_to_client: u64,
    /// Forwarded connections seen (SPDY form only).
    pub connections: u64,
}

#[derive(Debug)]
enum Wire {
    Spdy {
        client: Box<FrameReader>,
        server: Box<FrameReader>,
        /// data stream id -> port
        streams: HashMap<u32, u16>,
    },
    Channels {
        ports: Vec<u16>,
        prefix_seen: Vec<bool>,
    },
}

/// Counts port-forward traffic per port.
#[derive(Debug)]
pub struct PortForwardTap {
    wire: Wire,
    ports: BTreeMap<u16, PortBytes>,
    error: Option<String>,
}

impl PortForwardTap {
    /// For SPDY (plain, or tunnelled in WebSocket binary messages).
    pub fn spdy() -> Self {
        PortForwardTap {
            wire: Wire::Spdy {
                client: Box::new(FrameReader::new()),
                server: Box::new(FrameReader::new()),
                streams: HashMap::new(),
            },
            ports: BTreeMap::new(),
            error: None,
        }
    }

    /// For the channel form, with the ports from the `ports` query parameter.
    pub fn channels(ports: Vec<u16>) -> Self {
        let mut map = BTreeMap::new();
        for p in &ports {
            map.insert(*p, PortBytes::default());
        }
        PortForwardTap {
            wire: Wire::Channels {
                prefix_seen: vec![false; ports.len() * 2],
                ports,
            },
            ports: map,
            error: None,
        }
    }

    /// Per-port totals so far.
    pub fn ports(&self) -> &BTreeMap<u16, PortBytes> {
        &self.ports
    }

    /// (user to pod, pod to user) totals.
    pub fn totals(&self) -> (u64, u64) {
        self.ports.values().fold((0, 0), |(a, b), p| {
            (a + p.client_to_pod, b + p.pod_to_client)
        })
    }

    /// Per-port totals as they go into `session.end` (port order).
    pub fn summary(&self) -> Vec<kac_event::PortBytes> {
        self.ports
            .iter()
            .map(|(&port, b)| kac_event::PortBytes {
                port,
                bytes_in: b.client_to_pod,
                bytes_out: b.pod_to_client,
                connections: b.connections,
            })
            .collect()
    }

    /// Set when the SPDY stream could not be parsed: counting stopped.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Bytes (SPDY) or one channel message from the user.
    pub fn on_client(&mut self, data: &[u8]) {
        self.on(data, true)
    }

    /// Bytes (SPDY) or one channel message from the pod.
    pub fn on_server(&mut self, data: &[u8]) {
        self.on(data, false)
    }

    fn on(&mut self, data: &[u8], from_client: bool) {
        if self.error.is_some() {
            return;
        }
        match &mut self.wire {
            Wire::Spdy {
                client,
                server,
                streams,
            } => {
                let reader = if from_client { client } else { server };
                reader.feed(data);
                loop {
                    match reader.next_frame() {
                        Ok(Some(f)) => {
                            count_spdy(&mut self.ports, streams, f, from_client);
                        }
                        Ok(None) => break,
                        Err(e) => {
                            self.error = Some(format!("port-forward SPDY stream: {e}"));
                            break;
                        }
                    }
                }
            }
            Wire::Channels { ports, prefix_seen } => {
                let Some((&ch, payload)) = data.split_first() else {
                    return;
                };
                let idx = (ch / 2) as usize;
                let Some(&port) = ports.get(idx) else {
                    return;
                };
                if ch % 2 == 1 {
                    return; // error channel
                }
                let mut n = payload.len() as u64;
                if !from_client {
                    if let Some(seen) = prefix_seen.get_mut(ch as usize) {
                        if !*seen {
                            *seen = true;
                            n = n.saturating_sub(2);
                        }
                    }
                }
                let e = self.ports.entry(port).or_default();
                if from_client {
                    e.client_to_pod += n;
                } else {
                    e.pod_to_client += n;
                }
            }
        }
    }
}

fn count_spdy(
    ports: &mut BTreeMap<u16, PortBytes>,
    streams: &mut HashMap<u32, u16>,
    f: Frame,
    from_client: bool,
) {
    match f {
        Frame::SynStream {
            stream_id, headers, ..
        } => {
            let port = header(&headers, "port").and_then(|p| p.trim().parse::<u16>().ok());
            let data = header(&headers, "streamtype") == Some("data");
            if let (Some(port), true) = (port, data) {
                // Bound the map: a hostile client cannot grow it forever.
                if streams.len() < 65_536 {
                    streams.insert(stream_id, port);
                }
                ports.entry(port).or_default().connections += 1;
            }
        }
        Frame::Data {
            stream_id, data, ..
        } => {
            if let Some(port) = streams.get(&stream_id) {
                let e = ports.entry(*port).or_default();
                if from_client {
                    e.client_to_pod += data.len() as u64;
                } else {
                    e.pod_to_client += data.len() as u64;
                }
            }
        }
        Frame::RstStream { stream_id, .. } => {
            streams.remove(&stream_id);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spdy::{FrameWriter, FLAG_FIN};

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn spdy_tunnel_counts_data_streams_per_port() {
        let mut cw = FrameWriter::new();
        let mut sw = FrameWriter::new();
        let mut client = Vec::new();
        for (id, ty) in [(1, "error"), (3, "data")] {
            client.extend(cw.encode(&Frame::SynStream {
                stream_id: id,
                associated_to: 0,
                priority: 0,
                flags: 0,
                headers: h(&[("streamtype", ty), ("port", "8080"), ("requestid", "0")]),
            }));
        }
        client.extend(cw.encode(&Frame::Data {
            stream_id: 3,
            flags: 0,
            data: b"GET / HTTP/1.0\r\n\r\n".to_vec(),
        }));
        let mut server = sw.encode(&Frame::SynReply {
            stream_id: 3,
            flags: 0,
            headers: h(&[]),
        });
        server.extend(sw.encode(&Frame::Data {
            stream_id: 3,
            flags: FLAG_FIN,
            data: vec![b'x'; 1000],
        }));
        server.extend(sw.encode(&Frame::Data {
            stream_id: 1,
            flags: 0,
            data: b"error text".to_vec(),
        }));
        let mut tap = PortForwardTap::spdy();
        // WebSocket message boundaries are arbitrary.
        for c in client.chunks(5) {
            tap.on_client(c);
        }
        for c in server.chunks(333) {
            tap.on_server(c);
        }
        assert_eq!(tap.error(), None);
        assert_eq!(
            tap.ports().get(&8080),
            Some(&PortBytes {
                client_to_pod: 18,
                pod_to_client: 1000,
                connections: 1
            })
        );
        assert_eq!(tap.totals(), (18, 1000));
    }

    #[test]
    fn channel_form_skips_port_prefix() {
        let mut tap = PortForwardTap::channels(vec![80, 443]);
        tap.on_server(&[0, 80, 0]);
        tap.on_server(&[1, 80, 0]);
        tap.on_client(b"\x00hello");
        tap.on_server(b"\x00world!");
        tap.on_server(b"\x01some error");
        tap.on_server(&[2, 0xbb, 0x01, b'z']);
        tap.on_server(&[9, 1, 2]);
        assert_eq!(tap.ports()[&80].client_to_pod, 5);
        assert_eq!(tap.ports()[&80].pod_to_client, 6);
        assert_eq!(tap.ports()[&443].pod_to_client, 1);
        assert_eq!(tap.totals(), (5, 7));
        let summary = tap.summary();
        assert_eq!(summary.len(), 2);
        assert_eq!(
            (summary[0].port, summary[0].bytes_in, summary[0].bytes_out),
            (80, 5, 6)
        );
        assert_eq!(
            (summary[1].port, summary[1].bytes_in, summary[1].bytes_out),
            (443, 0, 1)
        );
    }

    #[test]
    fn garbage_spdy_stops_counting() {
        let mut tap = PortForwardTap::spdy();
        tap.on_client(&[0x80, 9, 0, 1, 0, 0, 0, 0]);
        assert!(tap.error().is_some());
        tap.on_client(&[0, 0, 0, 1, 0, 0, 0, 1, b'a']);
        assert_eq!(tap.totals(), (0, 0));
    }
}
