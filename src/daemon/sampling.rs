//! When an agent spends a registry's read budget (issue 10). Node-local
//! checks (dns, tcp, proxy, tls) cost a registry nothing and run every
//! `--interval` everywhere; the checks that cost it a request run every
//! `--registry-interval`, each node at its own phase of that interval (a
//! hash of node and target), so a fleet's requests spread evenly instead of
//! arriving in the same second.
//!
//! With `--cluster-size N`, each node takes only its deterministic share of
//! a target's registry rounds: every node has a fixed slot (a hash of node
//! and target, `0..N`), and registry round `r` (the wall clock divided by the
//! registry interval, the same on every node) is taken by the slots in the
//! window `[r*K, r*K + K)` modulo N. Over N/K rounds the window sweeps every
//! slot once, so each node checks each target once per sweep and about K
//! nodes check it per round: the registry's load grows with targets, not
//! with nodes. A node whose last check failed for a cause of its own
//! (network, name, credentials, config) is never sampled out, and a target
//! whose node-local result changes is checked at once (the agent decides
//! both, `daemon/mod.rs`); a registry-side failure keeps the sample.
//!
//! Pure functions: no clock is read here, no state is kept.

use sha2::{Digest as _, Sha256};
use std::time::Duration;

/// A stable 64-bit hash of the parts (SHA-256, first 8 bytes), the same on
/// every node and platform.
#[must_use]
pub fn hash(parts: &[&str]) -> u64 {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// The registry round `since_epoch` falls in.
#[must_use]
pub fn registry_round(since_epoch: Duration, registry_interval: Duration) -> u64 {
    let step = registry_interval.as_millis().max(1);
    u64::try_from(since_epoch.as_millis() / step).unwrap_or(u64::MAX)
}

/// Where in each registry interval this node checks this target.
#[must_use]
pub fn phase(node: &str, target: &str, registry_interval: Duration) -> Duration {
    let step = u64::try_from(registry_interval.as_millis().max(1)).unwrap_or(u64::MAX);
    Duration::from_millis(hash(&["phase", node, target]) % step)
}

/// The node's fixed slot for a target, `0..cluster_size`.
#[must_use]
pub fn slot(node: &str, target: &str, cluster_size: u32) -> u64 {
    hash(&["slot", node, target]) % u64::from(cluster_size.max(1))
}

/// Whether `slot` is in registry round `round`'s window.
#[must_use]
pub fn in_window(slot: u64, round: u64, cluster_size: u32, per_round: u32) -> bool {
    let n = u64::from(cluster_size.max(1));
    let k = u64::from(per_round).min(n);
    let start = (round % n) * k % n;
    (slot % n + n - start) % n < k
}

/// Whether `node` takes `target`'s registry checks in registry round `round`
/// when `cluster_size` nodes share them, `per_round` per round.
#[must_use]
pub fn takes_round(
    node: &str,
    target: &str,
    round: u64,
    cluster_size: u32,
    per_round: u32,
) -> bool {
    in_window(
        slot(node, target, cluster_size),
        round,
        cluster_size,
        per_round,
    )
}

/// The next registry round at or after `round` that `node` takes for `target`
/// (at most one sweep away).
#[must_use]
pub fn next_round(node: &str, target: &str, round: u64, cluster_size: u32, per_round: u32) -> u64 {
    let sweep = u64::from(cluster_size.max(1));
    let mine = slot(node, target, cluster_size);
    (round..=round + sweep)
        .find(|r| in_window(mine, *r, cluster_size, per_round))
        .unwrap_or(round + sweep)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 10: N = 5,000 simulated node names, K = 3. Over whole sweeps
    /// every node takes each target exactly once per sweep, and the rounds
    /// average K nodes per target, between K and 2K.
    #[test]
    fn k_nodes_per_round_over_many_rounds_for_5000_nodes() {
        const N: u32 = 5_000;
        const K: u32 = 3;
        let nodes: Vec<String> = (0..N)
            .map(|i| format!("aks-nodepool1-{:08}-vmss{:06}", 1_234_567 + i % 7, i))
            .collect();
        for target in ["myregistry.azurecr.io", "docker.io/library/nginx:latest"] {
            // One whole cycle of the window: N rounds when gcd(N, K) = 1.
            let rounds = u64::from(N);
            let mut per_round = Vec::with_capacity(rounds as usize);
            let mut per_node = vec![0u32; nodes.len()];
            let slots: Vec<u64> = nodes.iter().map(|n| slot(n, target, N)).collect();
            for r in 0..rounds {
                let mut count = 0;
                for (i, s) in slots.iter().enumerate() {
                    if in_window(*s, r, N, K) {
                        count += 1;
                        per_node[i] += 1;
                    }
                }
                per_round.push(count);
            }
            let mean = f64::from(per_round.iter().sum::<u32>()) / rounds as f64;
            assert!(
                (f64::from(K)..=f64::from(2 * K)).contains(&mean),
                "{target}: mean {mean} nodes per round"
            );
            // Fair: each node takes each target exactly K times per N rounds.
            assert!(per_node.iter().all(|c| *c == K), "{target}: unfair share");
            // Covered: rounds without any node are rare.
            let empty = per_round.iter().filter(|c| **c == 0).count();
            assert!(
                (empty as f64) < 0.1 * rounds as f64,
                "{target}: {empty} of {rounds} rounds uncovered"
            );
            let max = per_round.iter().max().copied().unwrap_or(0);
            assert!(max <= 6 * K, "{target}: a round with {max} nodes");
        }
    }

    #[test]
    fn without_sharing_a_node_takes_every_round() {
        for r in 0..50 {
            assert!(takes_round("node-1", "reg.test", r, 1, 3));
            assert!(takes_round("node-1", "reg.test", r, 3, 3));
        }
    }

    #[test]
    fn the_next_round_is_within_one_sweep() {
        let r = next_round("aks-np1-0", "reg.test", 1000, 5000, 3);
        assert!((1000..=6000).contains(&r));
        assert!(takes_round("aks-np1-0", "reg.test", r, 5000, 3));
    }

    #[test]
    fn phases_spread_over_the_interval() {
        let interval = Duration::from_secs(900);
        let phases: Vec<Duration> = (0..1000)
            .map(|i| phase(&format!("node-{i}"), "reg.test", interval))
            .collect();
        assert!(phases.iter().all(|p| *p < interval));
        // Ten buckets of 90 s each hold 100 +- 40 nodes.
        for b in 0..10 {
            let lo = Duration::from_secs(90 * b);
            let n = phases
                .iter()
                .filter(|p| **p >= lo && **p < lo + Duration::from_secs(90))
                .count();
            assert!((60..=140).contains(&n), "bucket {b}: {n}");
        }
        assert_eq!(registry_round(Duration::from_secs(1800), interval), 2);
    }
}
