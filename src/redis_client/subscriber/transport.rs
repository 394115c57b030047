//! Where a subscriber connects and how: TCP, a Unix socket, or TLS verified the way the redis
//! crate verifies its own connections to the same URL (the `[redis.tls]` CA, else the system's
//! roots; the client certificate when one is set), so both kinds of connection accept and
//! refuse the same servers.

use std::fmt;
use std::sync::Arc;

use redis::{ConnectionAddr, ConnectionInfo, TlsCertificates};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::TlsConnector;

/// A byte stream to Redis, whichever transport carries it.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
pub type Transport = Box<dyn Io>;

/// One server a subscriber can connect to, with the credentials to present: a `redis.url` or
/// `redis.cluster` entry as the redis crate parsed it, and the TLS to verify it with.
#[derive(Clone)]
pub struct Endpoint {
    info: ConnectionInfo,
    tls: Option<Arc<ClientConfig>>,
}

impl Endpoint {
    /// `tls` verifies a `rediss://` server; what this connection cannot open is refused here,
    /// at start, rather than on every attempt.
    pub fn new(info: &ConnectionInfo, tls: Option<&Arc<ClientConfig>>) -> Result<Endpoint, String> {
        match info.addr() {
            ConnectionAddr::TcpTls { insecure: true, .. } => {
                return Err("`#insecure` (TLS without verification) is not supported".into())
            }
            ConnectionAddr::TcpTls { .. } if tls.is_none() => {
                return Err("rediss:// without a TLS configuration".into())
            }
            ConnectionAddr::Tcp(..) | ConnectionAddr::TcpTls { .. } | ConnectionAddr::Unix(_) => {}
            other => return Err(format!("unsupported address {other}")),
        }
        Ok(Endpoint {
            info: info.clone(),
            tls: tls.cloned(),
        })
    }

    /// The ACL user (if named) and password (if any) from the URL.
    pub(super) fn credentials(&self) -> (Option<&str>, Option<&str>) {
        let settings = self.info.redis_settings();
        (settings.username(), settings.password())
    }

    pub(super) async fn open(&self) -> std::io::Result<Transport> {
        Ok(match (self.info.addr(), &self.tls) {
            (ConnectionAddr::Tcp(host, port), _) => Box::new(tcp(host, *port).await?),
            (ConnectionAddr::TcpTls { host, port, .. }, Some(config)) => {
                let name = ServerName::try_from(host.clone())
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
                let tcp = tcp(host, *port).await?;
                Box::new(
                    TlsConnector::from(config.clone())
                        .connect(name, tcp)
                        .await?,
                )
            }
            (ConnectionAddr::Unix(path), _) => Box::new(UnixStream::connect(path).await?),
            // Refused by `new`.
            (other, _) => return Err(std::io::Error::other(format!("cannot open {other}"))),
        })
    }
}

async fn tcp(host: &str, port: u16) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect((host, port)).await?;
    // Only PINGs go this way; they should not wait for an acknowledgement.
    stream.set_nodelay(true)?;
    Ok(stream)
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.info.addr().fmt(f)
    }
}

/// TLS for `rediss://` subscribers: the configured CA (else the system's roots) and, when set,
/// the client certificate; the same rules as the redis crate's for its own connections.
pub fn tls_config(certificates: Option<&TlsCertificates>) -> Result<Arc<ClientConfig>, String> {
    let roots = match certificates.and_then(|c| c.root_cert.as_deref()) {
        Some(pem) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| format!("redis.tls.ca: {e}"))?;
                roots.add(cert).map_err(|e| format!("redis.tls.ca: {e}"))?;
            }
            roots
        }
        None => {
            let mut roots = RootCertStore::empty();
            // Unreadable system certificates are skipped, as they are everywhere else; a
            // server none of the rest vouches for is refused at the handshake.
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            roots
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("redis.tls: {e}"))?
        .with_root_certificates(roots);
    let config = match certificates.and_then(|c| c.client_tls.as_ref()) {
        Some(client) => {
            let chain = CertificateDer::pem_slice_iter(&client.client_cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("redis.tls.cert: {e}"))?;
            let key = PrivateKeyDer::from_pem_slice(&client.client_key)
                .map_err(|e| format!("redis.tls.key: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("redis.tls: the key does not fit the certificate: {e}"))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}
