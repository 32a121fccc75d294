//! The listening sockets of every generation of llmtel's components, by name and address. A receiver or exporter
//! that listens asks [`Listeners::bind`] for its socket instead of binding one itself: on the first start that
//! binds it, and on a reload (SIGHUP, `crate::reload`) it hands over a duplicate of the socket the running
//! generation holds for the same listener or address. Both generations then accept from one kernel queue while
//! the new one starts and the old one stops, so a client connecting during the reload is never refused. A socket no
//! listener of the new generation asked for is let go once the reload is committed; its port closes when the old
//! generation's server, which holds the last copy, has stopped.
//!
//! Beside the sockets, [`Listeners`] records the address each listener actually bound (port 0 in tests).

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::{Arc, Mutex, MutexGuard};

/// The addresses llmtel's listeners actually bound, by name (`"otlp otlp grpc"`, `"admin"`): with port 0 in the
/// config, this is how a caller learns the port. It also holds the bound sockets for the next generation.
#[derive(Debug, Clone, Default)]
pub struct Listeners(Arc<Mutex<Inner>>);

#[derive(Debug, Default)]
struct Inner {
    recorded: Vec<(String, SocketAddr)>,
    held: Vec<Held>,
    /// The generation whose components are binding now.
    generation: u64,
    /// The last generation that started in full.
    committed: u64,
}

/// One bound socket and the generations that used it.
#[derive(Debug)]
struct Held {
    name: String,
    endpoint: String,
    addr: SocketAddr,
    socket: TcpListener,
    /// The generation that bound it.
    first: u64,
    /// The latest generation that was handed it.
    last: u64,
}

impl Listeners {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Plain data: a panic elsewhere while holding the lock leaves nothing half-done that matters here.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a bound address.
    pub fn record(&self, name: &str, addr: SocketAddr) {
        self.lock().recorded.push((name.to_owned(), addr));
    }

    /// The address bound under `name` (by the latest generation that bound it).
    pub fn get(&self, name: &str) -> Option<SocketAddr> {
        self.lock()
            .recorded
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, a)| *a)
    }

    /// A listening socket for listener `name` configured at `endpoint`, non-blocking: the socket an earlier
    /// generation bound for the same name and endpoint, or for the same address (when the port is not 0), handed
    /// over as a duplicate; otherwise a new one bound now. The error is the bind's.
    pub fn bind(&self, name: &str, endpoint: &str) -> std::io::Result<TcpListener> {
        let mut inner = self.lock();
        let generation = inner.generation;
        let wanted = fixed_addrs(endpoint);
        let found = inner
            .held
            .iter()
            .position(|h| h.name == name && h.endpoint == endpoint)
            .or_else(|| inner.held.iter().position(|h| wanted.contains(&h.addr)));
        if let Some(i) = found {
            let held = &mut inner.held[i];
            // A socket already handed to this generation is not handed twice: the second listener must fail as a
            // second bind of the address would.
            if held.last != generation {
                let copy = held.socket.try_clone()?;
                held.last = generation;
                tracing::debug!(listener = name, endpoint = %held.addr, "socket kept across the reload");
                return Ok(copy);
            }
        }
        let socket = TcpListener::bind(endpoint)?;
        socket.set_nonblocking(true)?;
        let addr = socket.local_addr()?;
        inner.held.push(Held {
            name: name.to_owned(),
            endpoint: endpoint.to_owned(),
            addr,
            socket: socket.try_clone()?,
            first: generation,
            last: generation,
        });
        Ok(socket)
    }

    /// [`Listeners::bind`] as a tokio listener; must be called inside a tokio runtime.
    pub fn bind_tokio(
        &self,
        name: &str,
        endpoint: &str,
    ) -> std::io::Result<tokio::net::TcpListener> {
        tokio::net::TcpListener::from_std(self.bind(name, endpoint)?)
    }

    /// Opens the next generation: sockets bound from now on belong to it. Returns its number.
    pub(crate) fn begin(&self) -> u64 {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.generation
    }

    /// The generation `g` started in full: the sockets it was not handed are let go (each closes when the old
    /// generation's server holding its last copy stops).
    pub(crate) fn commit(&self, g: u64) {
        let mut inner = self.lock();
        inner.held.retain(|h| h.last >= g);
        inner.committed = g;
    }

    /// The generation `g` failed to start: the sockets it bound are let go, those it was handed stay with the
    /// running generation.
    pub(crate) fn abort(&self, g: u64) {
        let mut inner = self.lock();
        let committed = inner.committed;
        inner.held.retain(|h| h.first != g);
        for h in inner.held.iter_mut().filter(|h| h.last == g) {
            h.last = committed;
        }
        inner.generation = committed.max(g);
    }
}

/// The addresses `endpoint` names, when its port is fixed (not 0): a listener configured at another spelling of
/// the same address (`localhost:4318`, `127.0.0.1:4318`) takes over its socket.
fn fixed_addrs(endpoint: &str) -> Vec<SocketAddr> {
    endpoint
        .to_socket_addrs()
        .map(|a| a.filter(|a| a.port() != 0).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_generation_gets_the_same_socket_and_a_dropped_one_is_released() {
        let l = Listeners::default();
        let first = l.bind("otlp http", "127.0.0.1:0").unwrap();
        let addr = first.local_addr().unwrap();
        let g = l.begin();
        let second = l.bind("otlp http", "127.0.0.1:0").unwrap();
        assert_eq!(second.local_addr().unwrap(), addr);
        l.commit(g);
        drop(first);
        // The second generation's copy still listens: a client connects.
        assert!(std::net::TcpStream::connect(addr).is_ok());

        // A generation that does not ask for it releases the port once the holder is gone.
        let g = l.begin();
        let _other = l.bind("admin", "127.0.0.1:0").unwrap();
        l.commit(g);
        drop(second);
        assert!(std::net::TcpListener::bind(addr).is_ok());
    }

    #[test]
    fn a_fixed_address_is_handed_to_another_name_and_a_failed_generation_leaves_it() {
        let l = Listeners::default();
        let first = l.bind("a", "127.0.0.1:0").unwrap();
        let addr = first.local_addr().unwrap();
        let g = l.begin();
        let moved = l.bind("b", &addr.to_string()).unwrap();
        assert_eq!(moved.local_addr().unwrap(), addr);
        // Asked twice in one generation: a real bind, which fails as the address is taken.
        assert!(l.bind("c", &addr.to_string()).is_err());
        l.abort(g);
        drop(moved);
        let g = l.begin();
        assert!(l.bind("a", "127.0.0.1:0").is_ok());
        l.commit(g);
    }
}
