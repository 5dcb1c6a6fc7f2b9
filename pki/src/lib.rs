//! kac-pki: a tiny certificate authority and rustls configuration helpers shared by
//! KAC binaries (kac-sim, kac-proxy, tests).
//!
//! It owns: creating/persisting a CA, issuing server and client certificates, building
//! rustls server/client configs with the `ring` provider installed explicitly (so no
//! process-wide default provider is needed), and reading a peer certificate's identity
//! (CN = user, O = groups, the Kubernetes client-certificate convention).
//! It must not touch: HTTP, policy, or any crate-specific state.

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A PEM certificate and its PEM private key.
#[derive(Clone, Debug)]
pub struct CertKey {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A certificate authority whose key lives on disk next to its certificate.
pub struct Ca {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca").finish_non_exhaustive()
    }
}

/// The one crypto provider every KAC TLS config uses.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// Certificates are back-dated a little so small clock skews between processes don't
/// make a freshly issued certificate "not yet valid".
const BACKDATE: time::Duration = time::Duration::hours(1);

fn ca_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn write_file(path: &Path, data: &str, mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(data.as_bytes())
        .with_context(|| format!("writing {}", tmp.display()))?;
    drop(f);
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

impl Ca {
    /// Loads `dir/{stem}.crt` + `dir/{stem}.key`, or creates and persists a new CA there
    /// (key file mode 0600). Reusing them across restarts keeps kubeconfigs valid.
    pub fn load_or_create(dir: &Path, stem: &str) -> Result<Ca> {
        let cert_path = dir.join(format!("{stem}.crt"));
        let key_path = dir.join(format!("{stem}.key"));
        if cert_path.exists() && key_path.exists() {
            let cert_pem = std::fs::read_to_string(&cert_path)
                .with_context(|| format!("reading {}", cert_path.display()))?;
            let key_pem = std::fs::read_to_string(&key_path)
                .with_context(|| format!("reading {}", key_path.display()))?;
            let key = KeyPair::from_pem(&key_pem)
                .with_context(|| format!("parsing CA key {}", key_path.display()))?;
            let der = pem_certs(&cert_pem)?
                .into_iter()
                .next()
                .ok_or_else(|| anyhow!("no certificate in {}", cert_path.display()))?;
            let (cn, _) = peer_identity(&der)
                .with_context(|| format!("parsing CA certificate {}", cert_path.display()))?;
            // The issuer only needs the subject DN (re-encoded identically: a UTF8String
            // CN) and the key; the certificate itself is served as-is.
            let issuer = Issuer::new(ca_params(&cn), key);
            return Ok(Ca { cert_pem, issuer });
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let key = KeyPair::generate().context("generating CA key")?;
        let mut params = ca_params(&format!("kac {stem} CA"));
        params.not_before = now() - BACKDATE;
        params.not_after = now() + time::Duration::days(3650);
        let cert = params.self_signed(&key).context("self-signing CA")?;
        let cert_pem = cert.pem();
        write_file(&key_path, &key.serialize_pem(), 0o600)?;
        write_file(&cert_path, &cert_pem, 0o644)?;
        Ok(Ca {
            cert_pem,
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate in PEM form (what clients put in `certificate-authority-data`).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Issues a server certificate for the given names; `localhost` and `127.0.0.1`
    /// are always included because every KAC component is reachable on loopback.
    pub fn issue_server(&self, dns_names: &[String], ips: &[IpAddr]) -> Result<CertKey> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            dns_names.first().map(String::as_str).unwrap_or("localhost"),
        );
        params.distinguished_name = dn;
        let mut sans = vec![SanType::DnsName(
            "localhost".try_into().context("localhost SAN")?,
        )];
        for name in dns_names {
            if name != "localhost" {
                sans.push(SanType::DnsName(
                    name.as_str()
                        .try_into()
                        .with_context(|| format!("invalid DNS name {name:?}"))?,
                ));
            }
        }
        let loopback: IpAddr = IpAddr::from([127, 0, 0, 1]);
        sans.push(SanType::IpAddress(loopback));
        for ip in ips {
            if *ip != loopback {
                sans.push(SanType::IpAddress(*ip));
            }
        }
        params.subject_alt_names = sans;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.not_before = now() - BACKDATE;
        params.not_after = now() + time::Duration::days(825);
        self.sign(params)
    }

    /// Issues a client certificate: CN = user name, O = groups (at most two, see below).
    pub fn issue_client(
        &self,
        common_name: &str,
        organizations: &[String],
        valid_for: Duration,
    ) -> Result<CertKey> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        // rcgen keeps one value per attribute type; the second O is written through the
        // same OID as a "custom" type, which encodes identically on the wire.
        match organizations {
            [] => {}
            [a] => dn.push(DnType::OrganizationName, a.as_str()),
            [a, b] => {
                dn.push(DnType::OrganizationName, a.as_str());
                dn.push(DnType::CustomDnType(vec![2, 5, 4, 10]), b.as_str());
            }
            _ => bail!(
                "at most two organizations (groups) are supported in a client certificate, got {}",
                organizations.len()
            ),
        }
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let valid = time::Duration::try_from(valid_for).context("validity out of range")?;
        params.not_before = now() - BACKDATE;
        params.not_after = now() + valid;
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Result<CertKey> {
        let key = KeyPair::generate().context("generating key")?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .context("signing certificate")?;
        Ok(CertKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// Parses every certificate in a PEM string.
pub fn pem_certs(pem: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("parsing PEM certificates")?;
    if certs.is_empty() {
        bail!("no certificate found in PEM");
    }
    Ok(certs)
}

/// Parses the first private key in a PEM string.
pub fn pem_key(pem: &str) -> Result<PrivateKeyDer<'static>> {
    rustls_pemfile::private_key(&mut pem.as_bytes())
        .context("parsing PEM private key")?
        .ok_or_else(|| anyhow!("no private key found in PEM"))
}

fn root_store(ca_pem: &str) -> Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in pem_certs(ca_pem)? {
        roots
            .add(cert)
            .context("adding CA certificate to root store")?;
    }
    Ok(roots)
}

/// A rustls server config. With `client_ca_pem`, client certificates are optional but,
/// when presented, must chain to that CA: bearer tokens keep working alongside mTLS.
pub fn server_config(
    server: &CertKey,
    client_ca_pem: Option<&str>,
    alpn: &[&[u8]],
) -> Result<rustls::ServerConfig> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("choosing TLS versions")?;
    let builder = match client_ca_pem {
        Some(ca) => {
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(root_store(ca)?),
                provider(),
            )
            .allow_unauthenticated()
            .build()
            .context("building client certificate verifier")?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(pem_certs(&server.cert_pem)?, pem_key(&server.key_pem)?)
        .context("installing server certificate")?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// A rustls client config trusting only `ca_pem`, optionally presenting a client cert.
pub fn client_config(
    ca_pem: &str,
    client: Option<&CertKey>,
    alpn: &[&[u8]],
) -> Result<rustls::ClientConfig> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .context("choosing TLS versions")?
        .with_root_certificates(root_store(ca_pem)?);
    let mut config = match client {
        Some(ck) => builder
            .with_client_auth_cert(pem_certs(&ck.cert_pem)?, pem_key(&ck.key_pem)?)
            .context("installing client certificate")?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// The Kubernetes identity in a client certificate: (CN, all O values).
pub fn peer_identity(cert_der: &[u8]) -> Result<(String, Vec<String>)> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| anyhow!("parsing X.509 certificate: {e}"))?;
    let subject = cert.subject();
    let cn = subject
        .iter_common_name()
        .next()
        .ok_or_else(|| anyhow!("certificate has no common name"))?
        .as_str()
        .map_err(|e| anyhow!("common name is not a string: {e}"))?
        .to_string();
    let mut orgs = Vec::new();
    for o in subject.iter_organization() {
        orgs.push(
            o.as_str()
                .map_err(|e| anyhow!("organization is not a string: {e}"))?
                .to_string(),
        );
    }
    Ok((cn, orgs))
}

#[cfg(test)]
mod tests;
