//! Connections per client: one client holding the API's every connection
//! (a slow-headers attack from one machine) would lock every other client
//! out until its connections time out. Each client address gets at most
//! `api.max_connections_per_client` of them; an IPv6 client is its /64, the
//! block one machine is usually given.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// Open connections by client.
type OpenConnections = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// Counts open connections per client and hands out slots within the limit.
pub struct ClientSlots {
    limit: usize,
    open: OpenConnections,
}

/// One client connection, counted unless there is no limit; it is given
/// back when dropped.
pub struct ClientSlot(Option<(IpAddr, OpenConnections)>);

impl ClientSlots {
    /// Slots of `limit` connections per client; 0 for no limit (behind a
    /// proxy, where every connection comes from the proxy).
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            open: Arc::default(),
        }
    }

    /// A slot for one more connection of `address`, or `None` when that
    /// client already holds its limit.
    pub fn acquire(&self, address: IpAddr) -> Option<ClientSlot> {
        if self.limit == 0 {
            return Some(ClientSlot(None));
        }
        let client = client_of(address);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(client).or_default();
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(ClientSlot(Some((client, self.open.clone()))))
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let Some((client, open)) = &self.0 else {
            return;
        };
        let mut open = open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(client) {
            *count -= 1;
            if *count == 0 {
                open.remove(client);
            }
        }
    }
}

/// The client an address stands for: an IPv4 address (or an IPv4-mapped
/// IPv6 one) as itself, any other IPv6 address as its /64.
fn client_of(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(prefix.into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_limit_and_its_slots_back() {
        let slots = ClientSlots::new(2);
        let one: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let first = slots.acquire(one).unwrap();
        let second = slots.acquire(one).unwrap();
        assert!(slots.acquire(one).is_none(), "a third one is refused");
        assert!(slots.acquire(other).is_some(), "another client is served");
        drop(first);
        let again = slots.acquire(one);
        assert!(again.is_some(), "a closed connection gives its slot back");
        drop((second, again));
        assert!(slots.open.lock().unwrap().is_empty(), "nothing is kept");
    }

    #[test]
    fn an_ipv6_client_is_its_64_block() {
        let slots = ClientSlots::new(1);
        let _held = slots.acquire("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert!(
            slots
                .acquire("2001:db8:1:2:ffff::9".parse().unwrap())
                .is_none()
        );
        assert!(slots.acquire("2001:db8:1:3::1".parse().unwrap()).is_some());
        let mapped = ClientSlots::new(1);
        let _v4 = mapped.acquire("192.0.2.7".parse().unwrap()).unwrap();
        assert!(
            mapped
                .acquire("::ffff:192.0.2.7".parse().unwrap())
                .is_none()
        );
    }

    #[test]
    fn no_limit_counts_nothing() {
        let slots = ClientSlots::new(0);
        let address: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..10 {
            assert!(slots.acquire(address).is_some());
        }
        assert!(slots.open.lock().unwrap().is_empty());
    }
}
