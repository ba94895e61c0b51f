//! Slowing down repeated sign-in failures, never locking: counts per (user name, address), per
//! address and per account, bounded in memory; refusals counted per address and minute for one
//! audit row each; and the slots argon2 runs in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use crate::Error;

/// Failures allowed in the window before sign-in slows down.
const FREE_FAILURES: usize = 5;
const FAILURE_WINDOW: i64 = 15 * 60;
const MAX_DELAY: i64 = 15 * 60;

/// Failed sign-ins per (user name, address) and per address. After a few, each further attempt
/// must wait longer (doubling, capped at 15 minutes); nothing is ever locked for good, and a
/// stranger's failures from other addresses never stop the admin's correct password.
///
/// An attempt is counted when it is let through, before argon2 runs, under the same lock as the
/// check: parallel attempts cannot all slip past the limit. Memory is bounded: entries expire
/// and the map never holds more than [`MAX_TRACKED`] keys. IPv6 addresses count per /64.
#[derive(Debug)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, Vec<i64>>>,
    /// Refused sign-ins per (address, minute, why): counted here and written to the audit log
    /// as one row each by the upkeep job, so refusing costs no write.
    throttled: Mutex<HashMap<(String, i64, Refusal), u64>>,
    /// Passwords checked at once: about one per core, so 500 parallel sign-ins cannot take
    /// 500 × 19 MiB of memory; the rest are told to retry.
    argon2_slots: Arc<Semaphore>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            failures: Mutex::default(),
            throttled: Mutex::default(),
            argon2_slots: Arc::new(Semaphore::new(cores)),
        }
    }
}

/// The most keys the limiter remembers; past it, the stalest are forgotten first.
pub const MAX_TRACKED: usize = 10_000;
/// Where refused attempts from addresses past [`MAX_TRACKED`] in one minute are counted.
pub const MANY_ADDRESSES: &str = "many addresses";

/// Why sign-ins counted together were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Refusal {
    /// A password attempt while sign-in was slowed down.
    SlowedDown,
    /// A single sign-on of this browser that the identity provider answered with an error (or
    /// whose code it refused).
    SingleSignOn,
}

/// Refused sign-in attempts from one address in one minute, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottledMinute {
    pub address: String,
    /// The minute's first second (Unix time).
    pub minute: i64,
    pub refusal: Refusal,
    pub count: u64,
}

/// What one address is counted as: itself, or its /64 for IPv6 (one host owns a whole /64).
pub fn address_key(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(std::net::IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map_or_else(String::new, |v4| v4.to_string()),
        Ok(ip) => ip.to_string(),
        Err(_) => ip.to_owned(),
    }
}

impl LoginLimiter {
    fn keys(ip: &str, username: &str) -> Vec<String> {
        let address = address_key(ip);
        vec![
            format!("pair:{}|{address}", username.to_lowercase()),
            format!("ip:{address}"),
        ]
    }

    /// The key of guesses at an account's current password (while changing it), from
    /// whatever address: a stolen session may not guess it faster than sign-in allows.
    fn account_keys(admin_id: &str) -> Vec<String> {
        vec![format!("account:{admin_id}")]
    }

    fn delay(list: &[i64], now: i64) -> Option<u64> {
        let excess = list.len().checked_sub(FREE_FAILURES)?;
        let delay = (15i64 << excess.min(10)).min(MAX_DELAY);
        let ready = list.last()? + delay;
        (ready > now).then(|| (ready - now) as u64)
    }

    /// Lets an attempt through and counts it as a failure until [`Self::succeeded`] says
    /// otherwise; or the seconds to wait. Checked and counted under one lock.
    pub fn attempt(&self, ip: &str, username: &str, now: i64) -> Result<(), u64> {
        self.attempt_keys(Self::keys(ip, username), now)
    }

    /// [`Self::attempt`] for the current password asked by a password change.
    pub fn attempt_current_password(&self, admin_id: &str, now: i64) -> Result<(), u64> {
        self.attempt_keys(Self::account_keys(admin_id), now)
    }

    /// The current password was right.
    pub fn current_password_succeeded(&self, admin_id: &str) {
        self.forget(Self::account_keys(admin_id));
    }

    fn attempt_keys(&self, keys: Vec<String>, now: i64) -> Result<(), u64> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = None;
        for key in &keys {
            if let Some(list) = failures.get_mut(key) {
                list.retain(|&t| now - t < FAILURE_WINDOW.max(MAX_DELAY));
                wait = wait.max(Self::delay(list, now));
            }
        }
        if let Some(wait) = wait {
            return Err(wait);
        }
        if failures.len() + keys.len() > MAX_TRACKED {
            Self::prune(&mut failures, now);
        }
        for key in keys {
            failures.entry(key).or_default().push(now);
        }
        Ok(())
    }

    /// Forgets expired entries, then the stalest ones, until there is room again.
    fn prune(failures: &mut HashMap<String, Vec<i64>>, now: i64) {
        failures.retain(|_, list| {
            list.last()
                .is_some_and(|&t| now - t < FAILURE_WINDOW.max(MAX_DELAY))
        });
        if failures.len() + 2 > MAX_TRACKED {
            let mut by_age: Vec<(i64, String)> = failures
                .iter()
                .map(|(k, list)| (list.last().copied().unwrap_or(0), k.clone()))
                .collect();
            by_age.sort();
            let excess = failures.len() + 2 - MAX_TRACKED + MAX_TRACKED / 10;
            for (_, key) in by_age.into_iter().take(excess) {
                failures.remove(&key);
            }
        }
    }

    /// A correct password: this pair and this address start afresh.
    pub fn succeeded(&self, ip: &str, username: &str) {
        self.forget(Self::keys(ip, username));
    }

    fn forget(&self, keys: Vec<String>) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            failures.remove(&key);
        }
    }

    /// Counts a refused attempt. Memory is bounded like the failures': past [`MAX_TRACKED`]
    /// (address, minute, why) keys, new addresses share one count.
    pub fn count_throttled(&self, ip: &str, now: i64, refusal: Refusal) {
        let mut throttled = self.throttled.lock().unwrap_or_else(|p| p.into_inner());
        let minute = now - now.rem_euclid(60);
        let mut key = (address_key(ip), minute, refusal);
        if !throttled.contains_key(&key) && throttled.len() >= MAX_TRACKED {
            key.0 = MANY_ADDRESSES.to_owned();
        }
        *throttled.entry(key).or_default() += 1;
    }

    /// The refused attempts counted since the last call, oldest minute first.
    pub fn take_throttled(&self) -> Vec<ThrottledMinute> {
        let mut throttled = self.throttled.lock().unwrap_or_else(|p| p.into_inner());
        let mut minutes: Vec<ThrottledMinute> = throttled
            .drain()
            .map(|((address, minute, refusal), count)| ThrottledMinute {
                address,
                minute,
                refusal,
                count,
            })
            .collect();
        minutes.sort_by(|a, b| {
            (a.minute, &a.address, a.refusal).cmp(&(b.minute, &b.address, b.refusal))
        });
        minutes
    }

    /// A slot to run argon2 in, held until dropped; `Busy` when every slot is taken.
    pub fn argon2_slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, Error> {
        self.argon2_slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| Error::Busy)
    }

    pub fn tracked(&self) -> usize {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_slows_down_after_five_failures_and_recovers_with_time() {
        let limiter = LoginLimiter::default();
        for i in 0..5 {
            assert_eq!(limiter.attempt("1.2.3.4", "admin", 100 + i), Ok(()));
        }
        assert_eq!(limiter.attempt("1.2.3.4", "admin", 104), Err(15));
        assert_eq!(
            limiter.attempt("1.2.3.4", "other", 104),
            Err(15),
            "per address too"
        );
        assert_eq!(limiter.attempt("1.2.3.4", "admin", 104 + 15), Ok(()));
        assert_eq!(
            limiter.attempt("1.2.3.4", "admin", 119),
            Err(30),
            "each failure doubles"
        );
        limiter.succeeded("1.2.3.4", "admin");
        assert_eq!(limiter.attempt("1.2.3.4", "admin", 121), Ok(()));
    }

    #[test]
    fn refused_attempts_are_counted_per_address_and_minute_in_bounded_memory() {
        let limiter = LoginLimiter::default();
        for i in 0..1000 {
            limiter.count_throttled("192.0.2.1", 6000 + i % 90, Refusal::SlowedDown);
        }
        limiter.count_throttled("2001:db8::1", 6001, Refusal::SlowedDown);
        limiter.count_throttled("2001:db8::1", 6002, Refusal::SingleSignOn);
        let counted = limiter.take_throttled();
        assert_eq!(
            counted,
            [
                ThrottledMinute {
                    address: "192.0.2.1".into(),
                    minute: 6000,
                    refusal: Refusal::SlowedDown,
                    count: 670
                },
                ThrottledMinute {
                    address: "2001:db8:0:0::/64".into(),
                    minute: 6000,
                    refusal: Refusal::SlowedDown,
                    count: 1
                },
                ThrottledMinute {
                    address: "2001:db8:0:0::/64".into(),
                    minute: 6000,
                    refusal: Refusal::SingleSignOn,
                    count: 1
                },
                ThrottledMinute {
                    address: "192.0.2.1".into(),
                    minute: 6060,
                    refusal: Refusal::SlowedDown,
                    count: 330
                },
            ]
        );
        assert!(limiter.take_throttled().is_empty(), "taken once");
        for i in 0..(MAX_TRACKED as u32 + 50) {
            limiter.count_throttled(
                &std::net::Ipv4Addr::from(i).to_string(),
                60,
                Refusal::SlowedDown,
            );
        }
        let counted = limiter.take_throttled();
        assert_eq!(counted.len(), MAX_TRACKED + 1);
        let many = counted
            .iter()
            .find(|m| m.address == MANY_ADDRESSES)
            .unwrap();
        assert_eq!(many.count, 50);
    }

    #[test]
    fn guesses_at_the_current_password_slow_down_per_account() {
        let limiter = LoginLimiter::default();
        for i in 0..5 {
            assert_eq!(limiter.attempt_current_password("a1", 100 + i), Ok(()));
        }
        assert_eq!(limiter.attempt_current_password("a1", 104), Err(15));
        assert_eq!(
            limiter.attempt_current_password("a2", 104),
            Ok(()),
            "per account"
        );
        assert_eq!(
            limiter.attempt("1.2.3.4", "admin", 104),
            Ok(()),
            "sign-in apart"
        );
        limiter.current_password_succeeded("a1");
        assert_eq!(limiter.attempt_current_password("a1", 105), Ok(()));
    }

    #[test]
    fn a_strangers_failures_never_stop_the_admin_from_another_address() {
        let limiter = LoginLimiter::default();
        for i in 0..50 {
            let _ = limiter.attempt(&format!("10.0.{}.{}", i / 200, i % 200), "admin", 100);
        }
        assert_eq!(limiter.attempt("192.0.2.7", "admin", 100), Ok(()));
    }

    #[test]
    fn ipv6_addresses_count_per_64_and_memory_stays_bounded() {
        assert_eq!(address_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(address_key("2001:db8:1:2:bbbb::9"), "2001:db8:1:2::/64");
        assert_eq!(address_key("::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(address_key("192.0.2.1"), "192.0.2.1");
        let limiter = LoginLimiter::default();
        for i in 0..5 {
            let _ = limiter.attempt("2001:db8:1:2::1", "admin", 100 + i);
        }
        assert!(
            limiter
                .attempt("2001:db8:1:2:ffff::2", "admin", 104)
                .is_err()
        );
        for i in 0..30_000u32 {
            let _ = limiter.attempt(&std::net::Ipv4Addr::from(i).to_string(), "x", 200);
        }
        assert!(limiter.tracked() <= MAX_TRACKED);
    }
}
