//! Where a subscriber connects and how: TCP, a Unix socket, or TLS verified the way the redis
//! crate verifies its own connections to the same URL (the `[redis.tls]` CA, else the system's
//! roots; the client certificate when one is set), so both kinds of connection accept and
//! refuse the same servers.

use std::fmt;
use std::path::PathBuf;
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

#[derive(Clone)]
enum Address {
    Tcp {
        host: String,
        port: u16,
    },
    Tls {
        host: String,
        port: u16,
        config: Arc<ClientConfig>,
    },
    Unix(PathBuf),
}

/// One server a subscriber can connect to, with the credentials to present.
#[derive(Clone)]
pub struct Endpoint {
    address: Address,
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
}

impl Endpoint {
    /// The server and credentials of `info` (parsed from a `redis.url` or `redis.cluster`
    /// entry); `tls` verifies a `rediss://` server.
    pub fn new(info: &ConnectionInfo, tls: Option<&Arc<ClientConfig>>) -> Result<Endpoint, String> {
        let address = match info.addr() {
            ConnectionAddr::Tcp(host, port) => Address::Tcp {
                host: host.clone(),
                port: *port,
            },
            ConnectionAddr::TcpTls { insecure: true, .. } => {
                return Err("`#insecure` (TLS without verification) is not supported".into())
            }
            ConnectionAddr::TcpTls { host, port, .. } => Address::Tls {
                host: host.clone(),
                port: *port,
                config: tls.ok_or("rediss:// without a TLS configuration")?.clone(),
            },
            ConnectionAddr::Unix(path) => Address::Unix(path.clone()),
            other => return Err(format!("unsupported address {other}")),
        };
        let settings = info.redis_settings();
        Ok(Endpoint {
            address,
            username: settings.username().map(str::to_owned),
            password: settings.password().map(str::to_owned),
        })
    }

    pub(super) async fn open(&self) -> std::io::Result<Transport> {
        Ok(match &self.address {
            Address::Tcp { host, port } => Box::new(tcp(host, *port).await?),
            Address::Tls { host, port, config } => {
                let name = ServerName::try_from(host.clone())
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
                let tcp = tcp(host, *port).await?;
                Box::new(
                    TlsConnector::from(config.clone())
                        .connect(name, tcp)
                        .await?,
                )
            }
            Address::Unix(path) => Box::new(UnixStream::connect(path).await?),
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
        match &self.address {
            Address::Tcp { host, port } | Address::Tls { host, port, .. } => {
                write!(f, "{host}:{port}")
            }
            Address::Unix(path) => write!(f, "{}", path.display()),
        }
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
