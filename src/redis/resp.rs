//! A small Redis client: RESP2 over one TCP (or TLS) connection, commands sent in pipelines.
//!
//! feedpulse needs a handful of commands (XADD, HSET, EXPIRE, XREADGROUP, XACK, …) written in
//! batches; a blocking connection on a dedicated thread does that.

use crate::config::RedisEndpoint;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One reply, as RESP2 encodes it.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(Some(b)) => Some(b),
            Reply::Status(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    pub fn as_array(&self) -> Option<&[Reply]> {
        match self {
            Reply::Array(Some(items)) => Some(items),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Reply::Int(i) => Some(*i),
            _ => None,
        }
    }
}

/// A command: its name and arguments, as bytes.
pub type Command = Vec<Vec<u8>>;

/// Builds a command from anything byte-like: `cmd(["XADD", "fp:alerts", "*", "json", &text])`.
pub fn cmd<I, A>(args: I) -> Command
where
    I: IntoIterator<Item = A>,
    A: AsRef<[u8]>,
{
    args.into_iter().map(|a| a.as_ref().to_vec()).collect()
}

/// A byte stream to Redis: plain TCP or TLS over it.
trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

pub struct Connection {
    stream: BufReader<Box<dyn Stream>>,
    /// The node connected to, and how: a cluster's `MOVED` reconnects like this elsewhere.
    endpoint: RedisEndpoint,
    timeout: Duration,
}

impl Connection {
    /// Connects to `endpoint`: TCP, TLS for `rediss://`, then AUTH and SELECT where it asks for
    /// them. A refused AUTH or SELECT is an error of kind `PermissionDenied` with Redis's words.
    /// Behind Sentinel, to the master a sentinel names; in a cluster, to the node serving the
    /// endpoint's slot.
    pub fn open(endpoint: &RedisEndpoint, timeout: Duration) -> std::io::Result<Connection> {
        if !endpoint.sentinels.is_empty() {
            let master = RedisEndpoint {
                address: master_address(endpoint, timeout)?,
                sentinels: Vec::new(),
                ..endpoint.clone()
            };
            return Connection::open(&master, timeout);
        }
        if !endpoint.cluster.is_empty() {
            let owner = slot_owner(endpoint, timeout)?;
            return Connection::open(&node(endpoint, &owner), timeout);
        }
        let address = &endpoint.address;
        let addr = std::net::ToSocketAddrs::to_socket_addrs(address.as_str())?.next().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("no address for {address}"))
        })?;
        let tcp = TcpStream::connect_timeout(&addr, timeout)?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(timeout))?;
        tcp.set_write_timeout(Some(timeout))?;
        let stream: Box<dyn Stream> = if endpoint.tls { Box::new(tls::wrap(endpoint, tcp)?) } else { Box::new(tcp) };
        let mut connection = Connection { stream: BufReader::new(stream), endpoint: endpoint.clone(), timeout };
        let mut hello = Vec::new();
        if let Some(password) = &endpoint.password {
            let mut auth = cmd(["AUTH"]);
            auth.extend(endpoint.username.iter().map(|u| u.as_bytes().to_vec()));
            auth.push(password.as_bytes().to_vec());
            hello.push(auth);
        }
        if endpoint.db != 0 {
            hello.push(cmd(["SELECT", &endpoint.db.to_string()]));
        }
        // A server that wants a password we did not give says so here (NOAUTH), not on every
        // later command.
        hello.push(cmd(["PING"]));
        for reply in connection.pipeline(&hello)? {
            if let Reply::Error(e) = reply {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!("redis refused us: {e}"),
                ));
            }
        }
        Ok(connection)
    }

    /// Sends every command, then reads one reply per command (errors are replies, not `Err`).
    /// A cluster node that no longer serves the commands' slot answers `MOVED`: they are sent
    /// again, once, to the node it names (feedpulse's keys share one slot, so either every keyed
    /// command of a pipeline moved or none did, and nothing of a moved one ran). `ASK` (the
    /// slot is being migrated) is an error: the caller retries as after any failure.
    pub fn pipeline(&mut self, commands: &[Command]) -> std::io::Result<Vec<Reply>> {
        let replies = self.send(commands)?;
        let redirect = |prefix: &str| {
            replies.iter().find_map(|r| match r {
                Reply::Error(e) if e.starts_with(prefix) => Some(e.clone()),
                _ => None,
            })
        };
        if let Some(moved) = redirect("MOVED ") {
            let address = moved.split_whitespace().nth(2).unwrap_or_default().to_owned();
            *self = Connection::open(&node(&self.endpoint, &address), self.timeout)?;
            return self.send(commands);
        }
        if let Some(ask) = redirect("ASK ") {
            return Err(std::io::Error::other(format!("redis cluster slot being migrated: {ask}")));
        }
        Ok(replies)
    }

    fn send(&mut self, commands: &[Command]) -> std::io::Result<Vec<Reply>> {
        if commands.is_empty() {
            return Ok(Vec::new());
        }
        let mut request = Vec::new();
        for command in commands {
            write!(request, "*{}\r\n", command.len())?;
            for arg in command {
                write!(request, "${}\r\n", arg.len())?;
                request.extend_from_slice(arg);
                request.extend_from_slice(b"\r\n");
            }
        }
        let stream = self.stream.get_mut();
        stream.write_all(&request)?;
        stream.flush()?;
        commands.iter().map(|_| read_reply(&mut self.stream)).collect()
    }

    pub fn call(&mut self, command: Command) -> std::io::Result<Reply> {
        Ok(self.pipeline(&[command])?.pop().expect("one reply per command"))
    }
}

/// `endpoint` at another node (`host:port`), with the same credentials and TLS.
fn node(endpoint: &RedisEndpoint, address: &str) -> RedisEndpoint {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    RedisEndpoint {
        address: address.to_owned(),
        host: host.trim_start_matches('[').trim_end_matches(']').to_owned(),
        cluster: Vec::new(),
        ..endpoint.clone()
    }
}

/// The `host:port` of the node serving the endpoint's slot, as the first cluster node that
/// answers `CLUSTER SLOTS` says (each connection asks again, so a failover or a resharding is
/// followed on the next reconnect).
fn slot_owner(endpoint: &RedisEndpoint, timeout: Duration) -> std::io::Result<String> {
    let mut last = None;
    for seed in &endpoint.cluster {
        let asked =
            Connection::open(&node(endpoint, seed), timeout).and_then(|mut c| c.call(cmd(["CLUSTER", "SLOTS"])));
        match asked {
            Ok(Reply::Array(Some(ranges))) => {
                let serving = ranges.iter().filter_map(Reply::as_array).find(|r| {
                    let (from, to) = (r.first().and_then(Reply::as_int), r.get(1).and_then(Reply::as_int));
                    from.zip(to).is_some_and(|(a, b)| (a..=b).contains(&(endpoint.slot as i64)))
                });
                let master = serving.and_then(|r| r.get(2)).and_then(Reply::as_array);
                match master.and_then(|m| Some((m.first()?.as_str()?, m.get(1)?.as_int()?))) {
                    Some((host, port)) => {
                        return Ok(format!("{}:{port}", if host.is_empty() { seed_host(seed) } else { host }))
                    }
                    None => last = Some(format!("cluster node {seed}: no node serves slot {}", endpoint.slot)),
                }
            }
            Ok(reply) => last = Some(format!("cluster node {seed} answered CLUSTER SLOTS with {reply:?}")),
            Err(e) => last = Some(format!("cluster node {seed}: {e}")),
        }
    }
    Err(std::io::Error::new(std::io::ErrorKind::NotFound, last.unwrap_or_else(|| "no cluster node".into())))
}

/// The host of a `host:port` (a node that does not know its own address reports it empty).
fn seed_host(seed: &str) -> &str {
    seed.rsplit_once(':').map_or(seed, |(h, _)| h)
}

/// The master's `host:port` as the first sentinel that answers names it (each connection asks
/// again, so a failover is followed on the next reconnect).
fn master_address(endpoint: &RedisEndpoint, timeout: Duration) -> std::io::Result<String> {
    let mut last = None;
    for sentinel in &endpoint.sentinels {
        let plain = RedisEndpoint {
            address: sentinel.clone(),
            sentinels: Vec::new(),
            tls: false,
            username: None,
            password: None,
            db: 0,
            ..endpoint.clone()
        };
        let asked = Connection::open(&plain, timeout)
            .and_then(|mut c| c.call(cmd(["SENTINEL", "get-master-addr-by-name", &endpoint.master])));
        match asked {
            Ok(Reply::Array(Some(parts))) if parts.len() == 2 => {
                if let (Some(host), Some(port)) = (parts[0].as_str(), parts[1].as_str()) {
                    return Ok(format!("{host}:{port}"));
                }
            }
            Ok(reply) => {
                last = Some(format!("sentinel {sentinel} does not know master `{}`: {reply:?}", endpoint.master))
            }
            Err(e) => last = Some(format!("sentinel {sentinel}: {e}")),
        }
    }
    Err(std::io::Error::new(std::io::ErrorKind::NotFound, last.unwrap_or_else(|| "no sentinel".into())))
}

/// TLS for `rediss://` (rustls with ring): the system's certificate store, the bundled web
/// roots and the endpoint's `ca_file`.
mod tls {
    use crate::config::RedisEndpoint;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    use std::net::TcpStream;
    use std::sync::Arc;

    fn invalid(what: String) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, what)
    }

    /// The bundled web roots and the system's store, read once: every (re)connect needs them,
    /// and the store is files on disk.
    fn system_roots() -> &'static rustls::RootCertStore {
        static ROOTS: std::sync::OnceLock<rustls::RootCertStore> = std::sync::OnceLock::new();
        ROOTS.get_or_init(|| {
            let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
            for certificate in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(certificate);
            }
            roots
        })
    }

    pub fn wrap(
        endpoint: &RedisEndpoint,
        tcp: TcpStream,
    ) -> std::io::Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
        let mut roots = system_roots().clone();
        if let Some(path) = &endpoint.ca_file {
            let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|i| i.collect::<Result<_, _>>())
                .map_err(|e| invalid(format!("redis ca_file {}: {e}", path.display())))?;
            for certificate in certificates {
                roots.add(certificate).map_err(|e| invalid(format!("redis ca_file {}: {e}", path.display())))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from(endpoint.host.clone()).map_err(|e| invalid(format!("redis host: {e}")))?;
        let connection = rustls::ClientConnection::new(Arc::new(config), name).map_err(std::io::Error::other)?;
        Ok(rustls::StreamOwned::new(connection, tcp))
    }
}

fn bad(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

fn read_line(reader: &mut impl BufRead) -> std::io::Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "redis closed the connection"));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn read_reply(reader: &mut impl BufRead) -> std::io::Result<Reply> {
    let line = read_line(reader)?;
    let (kind, rest) = line.split_at(1.min(line.len()));
    let number = || rest.parse::<i64>().map_err(|_| bad(format!("bad RESP length `{line}`")));
    Ok(match kind {
        "+" => Reply::Status(rest.to_string()),
        "-" => Reply::Error(rest.to_string()),
        ":" => Reply::Int(number()?),
        "$" => match number()? {
            n if n < 0 => Reply::Bulk(None),
            n => {
                let mut data = vec![0; n as usize + 2];
                reader.read_exact(&mut data)?;
                data.truncate(n as usize);
                Reply::Bulk(Some(data))
            }
        },
        "*" => match number()? {
            n if n < 0 => Reply::Array(None),
            n => Reply::Array(Some((0..n).map(|_| read_reply(reader)).collect::<Result<_, _>>()?)),
        },
        _ => return Err(bad(format!("unexpected RESP line `{line}`"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_of_every_kind_parse() {
        let wire = b"+OK\r\n-ERR no\r\n:42\r\n$5\r\nhe\r\nl\r\n$-1\r\n*2\r\n$1\r\na\r\n*1\r\n:1\r\n*-1\r\n";
        let mut reader = BufReader::new(&wire[..]);
        let replies: Vec<Reply> = (0..7).map(|_| read_reply(&mut reader).unwrap()).collect();
        assert_eq!(
            replies,
            [
                Reply::Status("OK".into()),
                Reply::Error("ERR no".into()),
                Reply::Int(42),
                Reply::Bulk(Some(b"he\r\nl".to_vec())),
                Reply::Bulk(None),
                Reply::Array(Some(vec![Reply::Bulk(Some(b"a".to_vec())), Reply::Array(Some(vec![Reply::Int(1)]))])),
                Reply::Array(None),
            ]
        );
        assert!(read_reply(&mut BufReader::new(&b"?x\r\n"[..])).is_err());
        assert!(read_reply(&mut BufReader::new(&b""[..])).is_err());
    }
}
