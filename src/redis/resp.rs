//! A small Redis client: RESP2 over one TCP connection, commands sent in pipelines.
//!
//! feedpulse needs a handful of commands (XADD, HSET, EXPIRE, XREADGROUP, XACK, …) written in
//! batches; a blocking connection on a dedicated thread does that with no extra dependencies.

use std::io::{BufRead, BufReader, BufWriter, Write};
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

pub struct Connection {
    reader: BufReader<TcpStream>,
    writer: BufWriter<TcpStream>,
}

impl Connection {
    /// Connects to `host:port`.
    pub fn open(address: &str, timeout: Duration) -> std::io::Result<Connection> {
        let addr = std::net::ToSocketAddrs::to_socket_addrs(address)?.next().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("no address for {address}"))
        })?;
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(Connection { reader: BufReader::new(stream.try_clone()?), writer: BufWriter::new(stream) })
    }

    /// Sends every command, then reads one reply per command (errors are replies, not `Err`).
    pub fn pipeline(&mut self, commands: &[Command]) -> std::io::Result<Vec<Reply>> {
        for command in commands {
            write!(self.writer, "*{}\r\n", command.len())?;
            for arg in command {
                write!(self.writer, "${}\r\n", arg.len())?;
                self.writer.write_all(arg)?;
                self.writer.write_all(b"\r\n")?;
            }
        }
        self.writer.flush()?;
        commands.iter().map(|_| read_reply(&mut self.reader)).collect()
    }

    pub fn call(&mut self, command: Command) -> std::io::Result<Reply> {
        Ok(self.pipeline(&[command])?.pop().expect("one reply per command"))
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
