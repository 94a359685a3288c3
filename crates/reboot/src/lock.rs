//! The kured lock: its annotation codec and the lock policy.
//!
//! The lock is the annotation `weave.works/kured-node-lock` (`--lock-annotation`) on the kured
//! DaemonSet. kured writes one of two JSON shapes, chosen by `--concurrency`:
//!
//! ```json
//! {"nodeID":"node-1","metadata":{"unschedulable":false},"created":"2024-07-17T12:40:44.917242595Z","TTL":0}
//! {"maxOwners":2,"locks":[{"nodeID":"n1","metadata":{"unschedulable":false},"created":"…","TTL":0}]}
//! ```
//!
//! `created` is Go's `time.Time` (RFC3339Nano, trailing zeros trimmed) and `TTL` is Go's
//! `time.Duration` as integer nanoseconds. Missing fields read as Go zero values, so the manual
//! lock `{"nodeID":"manual"}` never expires. Drydock writes the same fields in the same order,
//! keeps unknown fields it reads, and adds its own under the key `drydock` (the boot ID when the
//! lock was taken, when the reboot was issued), which kured's Go decoder ignores.
//!
//! Reading the other shape than the configured one is [`crate::Error::LockFormatMismatch`]:
//! kured would misread it (a multi lock read as single is held by `""` forever; a single lock
//! read as multi is silently overwritten), so Drydock refuses to write instead.
//!
//! The policy functions ([`Lock::acquire`], [`Lock::renew`], [`Lock::release`], …) are pure:
//! they take the lock, the node directory and `now`, and return the lock to write back with
//! the API server's optimistic concurrency.

use std::collections::BTreeMap;
use std::fmt;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::{Error, Result};

/// kured's default lock annotation key (`--lock-annotation`).
pub const DEFAULT_LOCK_ANNOTATION: &str = "weave.works/kured-node-lock";

/// The holder name of the manual "stop all reboots" lock documented by kured
/// (`{"nodeID":"manual"}`); `drydock reboot pause` writes it too.
pub const MANUAL_HOLDER: &str = "manual";

/// Go's zero `time.Time`, which is what a missing `created` decodes to.
pub const GO_ZERO_TIME: Timestamp = Timestamp::constant(-62_135_596_800, 0);

/// Which JSON shape the lock annotation has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockFormat {
    /// One holder: `{"nodeID":…}`; kured uses it when `--concurrency` ≤ 1.
    Single,
    /// Several holders: `{"maxOwners":N,"locks":[…]}`; kured uses it when `--concurrency` > 1.
    Multi,
}

impl LockFormat {
    /// The format kured uses for a given `--concurrency`.
    pub fn for_concurrency(concurrency: u32) -> LockFormat {
        if concurrency > 1 {
            LockFormat::Multi
        } else {
            LockFormat::Single
        }
    }
}

impl fmt::Display for LockFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LockFormat::Single => "single-owner ({\"nodeID\":…})",
            LockFormat::Multi => "multi-owner ({\"maxOwners\":…,\"locks\":[…]})",
        })
    }
}

/// What kured records about the node when it takes the lock.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeMeta {
    /// Whether the node was already cordoned (`spec.unschedulable`) *before* the lock was
    /// taken: such a node stays cordoned after its reboot.
    #[serde(default)]
    pub unschedulable: bool,
    /// Fields this version does not know, kept as read.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Drydock's own fields in a lock entry, under the key `drydock`. kured ignores them, and drops
/// them when it rewrites a multi lock, so every field is optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrydockFields {
    /// The node's boot ID (`status.nodeInfo.bootID`) when the lock was taken: a different boot
    /// ID later proves that the node rebooted.
    #[serde(rename = "bootID", default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// When the lock was first taken (`created` moves forward on every renewal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acquired: Option<Timestamp>,
    /// When the reboot was last issued, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reboot_issued: Option<Timestamp>,
    /// How many times the reboot was issued during this hold.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reboot_attempts: u32,
    /// Set on a manual pause lock written by `drydock reboot pause`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub manual: bool,
    /// The holder's zone (its `--zone-label` value, `""` without one), written when zone limits
    /// are on ([`ZoneLimits`]), so the limits are judged from the lock itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// The workloads whose pods the drain evicted (`namespace/Kind/name`), written with the
    /// reboot when the health gate is on ([`crate::health`]): the hold ends only once they are
    /// whole again, and a restarted daemon reads them back from here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evicted: Vec<String>,
    /// When the node was verified back and uncordoned while the health gate holds the entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub back_since: Option<Timestamp>,
    /// Fields this version does not know, kept as read.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One holder of the lock: the whole single-format value, or one element of `locks`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LockEntry {
    /// The holding node's name, or a pseudo-holder such as [`MANUAL_HOLDER`].
    #[serde(rename = "nodeID", default)]
    pub node_id: String,
    /// The node's state when the lock was taken.
    #[serde(default)]
    pub metadata: NodeMeta,
    /// When the lock was taken or last renewed; [`GO_ZERO_TIME`] when absent.
    #[serde(default = "go_zero_time", with = "go_time")]
    pub created: Timestamp,
    /// How long after `created` the entry expires; zero means never (`TTL`, nanoseconds).
    #[serde(rename = "TTL", default, with = "go_duration")]
    pub ttl: SignedDuration,
    /// Drydock's own fields; `None` in entries written by kured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drydock: Option<DrydockFields>,
    /// Fields this version does not know, kept as read.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn go_zero_time() -> Timestamp {
    GO_ZERO_TIME
}

/// Go `time.Time` JSON: RFC3339 with nanoseconds, trailing zeros trimmed, `Z` for UTC.
mod go_time {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Go `time.Duration` JSON: an integer number of nanoseconds.
mod go_duration {
    use super::*;

    pub fn serialize<S: Serializer>(d: &SignedDuration, s: S) -> Result<S::Ok, S::Error> {
        let nanos = i64::try_from(d.as_nanos()).map_err(serde::ser::Error::custom)?;
        s.serialize_i64(nanos)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SignedDuration, D::Error> {
        Ok(SignedDuration::from_nanos(i64::deserialize(d)?))
    }
}

/// The multi-owner wire shape.
#[derive(Serialize, Deserialize)]
struct MultiWire {
    #[serde(rename = "maxOwners", default)]
    max_owners: i64,
    #[serde(default, deserialize_with = "null_as_empty")]
    locks: Vec<LockEntry>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<LockEntry>, D::Error> {
    Ok(Option::<Vec<LockEntry>>::deserialize(d)?.unwrap_or_default())
}

impl LockEntry {
    /// Whether the entry has expired at `now`, exactly as kured's `ttlExpired`:
    /// `TTL > 0 && now - created >= TTL`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.ttl.is_positive() && now.duration_since(self.created) >= self.ttl
    }

    /// Whether this is a manual pause lock rather than a node's: the kured `manual` holder, a
    /// Drydock pause, or an entry with no `created` (written by hand).
    pub fn is_manual(&self) -> bool {
        self.node_id == MANUAL_HOLDER
            || self.created == GO_ZERO_TIME
            || self.drydock.as_ref().is_some_and(|d| d.manual)
    }

    /// The boot ID recorded when the lock was taken, if Drydock took it.
    pub fn boot_id(&self) -> Option<&str> {
        self.drydock.as_ref()?.boot_id.as_deref()
    }
}

/// Whether a node is a control-plane node, for the one-control-plane-at-a-time rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeRole {
    /// Any node that is not a control-plane node.
    Worker,
    /// A node labelled `node-role.kubernetes.io/control-plane` (or `…/master`).
    ControlPlane,
}

/// The Nodes that exist right now (from a synced cache), with their roles. Lock holders that
/// are not in it have been deleted and lose the lock.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeDirectory(BTreeMap<String, NodeRole>);

impl NodeDirectory {
    /// The role of `node`, or `None` if it does not exist.
    pub fn role(&self, node: &str) -> Option<NodeRole> {
        self.0.get(node).copied()
    }
}

impl<S: Into<String>> FromIterator<(S, NodeRole)> for NodeDirectory {
    fn from_iter<I: IntoIterator<Item = (S, NodeRole)>>(iter: I) -> Self {
        NodeDirectory(iter.into_iter().map(|(n, r)| (n.into(), r)).collect())
    }
}

/// Why an entry no longer counts as holding the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Staleness {
    /// Its TTL has passed.
    Expired,
    /// Its Node object no longer exists (scaled in, replaced). Manual locks never go stale
    /// this way.
    NodeGone,
}

/// How this daemon takes the lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockPolicy {
    /// `--concurrency`: how many nodes may hold the lock at once (at least 1).
    pub concurrency: u32,
    /// `--lock-ttl`: written into new entries; zero means entries never expire.
    pub ttl: SignedDuration,
    /// At most one control-plane node holds the lock at once, whatever the concurrency.
    pub one_control_plane_at_a_time: bool,
}

impl LockPolicy {
    /// The annotation format this policy reads and writes.
    pub fn format(&self) -> LockFormat {
        LockFormat::for_concurrency(self.concurrency)
    }
}

/// A node asking for the lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcquireRequest<'a> {
    /// The node's name.
    pub node: &'a str,
    /// Whether it is a control-plane node.
    pub role: NodeRole,
    /// Whether it is cordoned right now, before Drydock touches it.
    pub cordoned_before: bool,
    /// Its current boot ID.
    pub boot_id: &'a str,
}

/// Why a node could not take the lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Busy {
    /// Every slot is taken by a live holder (named here).
    Full {
        /// The live holders.
        holders: Vec<String>,
    },
    /// A control-plane node already holds the lock, and so does this control-plane node's
    /// turn have to wait.
    ControlPlaneHeld {
        /// The control-plane holder.
        holder: String,
    },
    /// `--max-nodes-per-zone` holders are in this node's zone already.
    ZoneFull {
        /// The zone.
        zone: String,
        /// Its holders.
        holders: Vec<String>,
    },
    /// `--max-zones` zones other than this node's have holders already.
    TooManyZones {
        /// The zones with holders.
        zones: Vec<String>,
    },
}

impl fmt::Display for Busy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Busy::Full { holders } => write!(f, "Lock already held: {}", holders.join(", ")),
            Busy::ControlPlaneHeld { holder } => write!(
                f,
                "Lock already held by control-plane node {holder}; one control-plane node \
                 reboots at a time"
            ),
            Busy::ZoneFull { zone, holders } => write!(
                f,
                "Lock already held by {} in zone {zone:?} (--max-nodes-per-zone)",
                holders.join(", ")
            ),
            Busy::TooManyZones { zones } => write!(
                f,
                "Lock already held in zones {} (--max-zones)",
                zones.join(", ")
            ),
        }
    }
}

/// Drydock's zone-aware concurrency (`--max-nodes-per-zone`, `--max-zones`), on top of
/// `--concurrency`: both `None` (the default) is kured's behaviour.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZoneLimits {
    /// At most this many holders in one zone.
    pub per_zone: Option<u32>,
    /// At most this many distinct zones among the holders.
    pub zones: Option<u32>,
}

impl ZoneLimits {
    /// Whether any limit is set.
    pub fn is_active(&self) -> bool {
        self.per_zone.is_some() || self.zones.is_some()
    }
}

/// A node's zone and the zone limits, for [`Lock::acquire_in_zone`].
#[derive(Clone, Copy, Debug)]
pub struct ZoneView<'a> {
    /// The acquiring node's zone (`""` without a zone label).
    pub zone: &'a str,
    /// The limits.
    pub limits: &'a ZoneLimits,
    /// Every Node's zone by name, from its `--zone-label`.
    pub zones: &'a BTreeMap<String, String>,
}

/// The outcome of [`Lock::acquire`].
#[derive(Clone, Debug, PartialEq)]
pub enum Acquire {
    /// Write this lock back (with the resourceVersion it was read at) to take a slot.
    Take(Lock),
    /// The node already holds a live entry; nothing to write.
    AlreadyHeld,
    /// No slot is free.
    Busy(Busy),
}

/// A decoded lock annotation, in either format.
#[derive(Clone, Debug, PartialEq)]
pub struct Lock {
    format: LockFormat,
    /// `maxOwners` as read (multi format); rewritten by each acquirer, as kured does.
    max_owners: i64,
    holders: Vec<LockEntry>,
    /// Unknown top-level fields of a multi lock, kept as read.
    extra: Map<String, Value>,
}

impl Lock {
    /// A lock nobody holds.
    pub fn empty(format: LockFormat) -> Lock {
        Lock {
            format,
            max_owners: 0,
            holders: Vec::new(),
            extra: Map::new(),
        }
    }

    /// Decodes the annotation value (`None` when the annotation is absent), refusing the other
    /// format than `expected`.
    pub fn decode(annotation: Option<&str>, expected: LockFormat) -> Result<Lock> {
        let Some(text) = annotation else {
            return Ok(Lock::empty(expected));
        };
        let decode_err = |reason: String| Error::LockDecode { reason };
        let value: Value = serde_json::from_str(text)
            .map_err(|e| decode_err(format!("not JSON ({e}): {text:?}")))?;
        let Value::Object(object) = &value else {
            return Err(decode_err(format!("not a JSON object: {text:?}")));
        };
        let found = if object.contains_key("locks") || object.contains_key("maxOwners") {
            LockFormat::Multi
        } else if object.contains_key("nodeID") {
            LockFormat::Single
        } else {
            return Err(decode_err(format!(
                "neither a single ({{\"nodeID\":…}}) nor a multi ({{\"locks\":[…]}}) lock: {text:?}"
            )));
        };
        if found != expected {
            return Err(Error::LockFormatMismatch { expected, found });
        }
        match found {
            LockFormat::Single => {
                let entry: LockEntry = serde_json::from_value(value)
                    .map_err(|e| decode_err(format!("{e}: {text:?}")))?;
                Ok(Lock {
                    format: found,
                    max_owners: 1,
                    holders: vec![entry],
                    extra: Map::new(),
                })
            }
            LockFormat::Multi => {
                let wire: MultiWire = serde_json::from_value(value)
                    .map_err(|e| decode_err(format!("{e}: {text:?}")))?;
                Ok(Lock {
                    format: found,
                    max_owners: wire.max_owners,
                    holders: wire.locks,
                    extra: wire.extra,
                })
            }
        }
    }

    /// Decodes with the format `policy` (its `--concurrency`) selects.
    pub fn decode_for(annotation: Option<&str>, policy: &LockPolicy) -> Result<Lock> {
        Lock::decode(annotation, policy.format())
    }

    /// Encodes the lock as kured would write it. `None` means "remove the annotation" (a
    /// single lock nobody holds); an empty multi lock stays as `{"maxOwners":N,"locks":[]}`.
    pub fn encode(&self) -> Result<Option<String>> {
        match self.format {
            LockFormat::Single => self
                .holders
                .first()
                .map(|entry| serde_json::to_string(entry).map_err(Error::LockEncode))
                .transpose(),
            LockFormat::Multi => serde_json::to_string(&MultiWire {
                max_owners: self.max_owners,
                locks: self.holders.clone(),
                extra: self.extra.clone(),
            })
            .map(Some)
            .map_err(Error::LockEncode),
        }
    }

    /// The lock's format.
    pub fn format(&self) -> LockFormat {
        self.format
    }

    /// Every entry, live or stale, in order.
    pub fn holders(&self) -> &[LockEntry] {
        &self.holders
    }

    /// This node's entry, live or stale.
    pub fn entry(&self, node: &str) -> Option<&LockEntry> {
        self.holders.iter().find(|e| e.node_id == node)
    }

    /// This node's entry if it is live, which is what kured's `Holding()` checks.
    pub fn holding(&self, node: &str, now: Timestamp) -> Option<&LockEntry> {
        self.entry(node).filter(|e| !e.is_expired(now))
    }

    /// Why `entry` no longer counts as a holder, if it does not.
    pub fn staleness(
        entry: &LockEntry,
        nodes: &NodeDirectory,
        now: Timestamp,
    ) -> Option<Staleness> {
        if entry.is_expired(now) {
            Some(Staleness::Expired)
        } else if !entry.is_manual() && nodes.role(&entry.node_id).is_none() {
            Some(Staleness::NodeGone)
        } else {
            None
        }
    }

    /// The entries that still count as holders.
    pub fn live_holders<'a>(
        &'a self,
        nodes: &'a NodeDirectory,
        now: Timestamp,
    ) -> impl Iterator<Item = &'a LockEntry> + 'a {
        self.holders
            .iter()
            .filter(move |e| Lock::staleness(e, nodes, now).is_none())
    }

    /// Takes a slot for `request` if one is free, dropping stale entries (expired, or whose
    /// Node is gone) on the way, and at most one control-plane holder at a time when the
    /// policy says so.
    pub fn acquire(
        &self,
        request: &AcquireRequest<'_>,
        policy: &LockPolicy,
        nodes: &NodeDirectory,
        now: Timestamp,
    ) -> Acquire {
        if self.holding(request.node, now).is_some() {
            return Acquire::AlreadyHeld;
        }
        let live: Vec<&LockEntry> = self
            .live_holders(nodes, now)
            .filter(|e| e.node_id != request.node)
            .collect();
        let capacity = match self.format {
            LockFormat::Single => 1,
            LockFormat::Multi => usize::try_from(policy.concurrency.max(1)).unwrap_or(1),
        };
        if live.len() >= capacity {
            return Acquire::Busy(Busy::Full {
                holders: live.iter().map(|e| e.node_id.clone()).collect(),
            });
        }
        let control_plane_holder = live
            .iter()
            .find(|e| nodes.role(&e.node_id) == Some(NodeRole::ControlPlane));
        if let Some(holder) = control_plane_holder
            && policy.one_control_plane_at_a_time
            && request.role == NodeRole::ControlPlane
        {
            return Acquire::Busy(Busy::ControlPlaneHeld {
                holder: holder.node_id.clone(),
            });
        }
        let mut holders: Vec<LockEntry> = live.into_iter().cloned().collect();
        holders.push(LockEntry {
            node_id: request.node.to_owned(),
            metadata: NodeMeta {
                unschedulable: request.cordoned_before,
                extra: Map::new(),
            },
            created: now,
            ttl: policy.ttl,
            drydock: Some(DrydockFields {
                boot_id: Some(request.boot_id.to_owned()),
                acquired: Some(now),
                ..DrydockFields::default()
            }),
            extra: Map::new(),
        });
        Acquire::Take(Lock {
            format: self.format,
            max_owners: i64::from(policy.concurrency),
            holders,
            extra: self.extra.clone(),
        })
    }

    /// [`Lock::acquire`] under zone limits: the slot is taken only if, with it, no zone has
    /// more than `limits.per_zone` holders and no more than `limits.zones` zones have holders;
    /// the new entry records the node's zone. A holder's zone is the one its entry records,
    /// else the one `view.zones` (from the Nodes' labels) gives, else `""`. Manual pause
    /// entries are in no zone. Without limits this is [`Lock::acquire`] exactly.
    pub fn acquire_in_zone(
        &self,
        request: &AcquireRequest<'_>,
        policy: &LockPolicy,
        nodes: &NodeDirectory,
        now: Timestamp,
        view: ZoneView<'_>,
    ) -> Acquire {
        let ZoneView {
            zone,
            limits,
            zones,
        } = view;
        let taken = self.acquire(request, policy, nodes, now);
        let Acquire::Take(lock) = taken else {
            return taken;
        };
        if !limits.is_active() {
            return Acquire::Take(lock);
        }
        let others: Vec<(&str, &str)> = lock
            .holders
            .iter()
            .filter(|e| e.node_id != request.node && !e.is_manual())
            .map(|e| {
                let recorded = e.drydock.as_ref().and_then(|d| d.zone.as_deref());
                let labelled = zones.get(&e.node_id).map(String::as_str);
                (e.node_id.as_str(), recorded.or(labelled).unwrap_or(""))
            })
            .collect();
        if let Some(limit) = limits.per_zone {
            let same: Vec<String> = others
                .iter()
                .filter(|(_, z)| *z == zone)
                .map(|(n, _)| (*n).to_owned())
                .collect();
            if same.len() >= usize::try_from(limit).unwrap_or(usize::MAX) {
                return Acquire::Busy(Busy::ZoneFull {
                    zone: zone.to_owned(),
                    holders: same,
                });
            }
        }
        if let Some(limit) = limits.zones {
            let held: std::collections::BTreeSet<&str> = others.iter().map(|(_, z)| *z).collect();
            if !held.contains(zone) && held.len() >= usize::try_from(limit).unwrap_or(usize::MAX) {
                return Acquire::Busy(Busy::TooManyZones {
                    zones: held.into_iter().map(str::to_owned).collect(),
                });
            }
        }
        match lock.update(request.node, |e| {
            e.drydock.get_or_insert_with(Default::default).zone = Some(zone.to_owned());
        }) {
            Ok(stamped) => Acquire::Take(stamped),
            Err(_) => Acquire::Take(lock),
        }
    }

    /// Renews `node`'s lease: `created` becomes `now` (so kured readers see a fresh lock too)
    /// and the TTL the policy's. Works on an expired entry that nobody has replaced yet.
    pub fn renew(&self, node: &str, policy: &LockPolicy, now: Timestamp) -> Result<Lock> {
        self.update(node, |entry| {
            entry.created = now;
            entry.ttl = policy.ttl;
        })
    }

    /// Changes `node`'s entry with `change` (for example to record the reboot being issued or
    /// adopt an entry kured wrote) and returns the lock to write.
    pub fn update(&self, node: &str, change: impl FnOnce(&mut LockEntry)) -> Result<Lock> {
        let mut lock = self.clone();
        let entry = lock
            .holders
            .iter_mut()
            .find(|e| e.node_id == node)
            .ok_or_else(|| Error::NotLockHolder {
                node: node.to_owned(),
            })?;
        change(entry);
        Ok(lock)
    }

    /// Removes `node`'s entry (the first one, as kured does).
    pub fn release(&self, node: &str) -> Result<Lock> {
        let mut lock = self.clone();
        let index = lock
            .holders
            .iter()
            .position(|e| e.node_id == node)
            .ok_or_else(|| Error::NotLockHolder {
                node: node.to_owned(),
            })?;
        lock.holders.remove(index);
        Ok(lock)
    }

    /// Removes every stale entry, returning the lock to write and what was removed (for
    /// events and logs). Nothing to write when the list is empty.
    pub fn prune(&self, nodes: &NodeDirectory, now: Timestamp) -> (Lock, Vec<(String, Staleness)>) {
        let mut lock = self.clone();
        let mut removed = Vec::new();
        lock.holders
            .retain(|e| match Lock::staleness(e, nodes, now) {
                Some(why) => {
                    removed.push((e.node_id.clone(), why));
                    false
                }
                None => true,
            });
        (lock, removed)
    }

    /// A manual pause lock in this format, as `drydock reboot pause` writes it: no node can
    /// take a slot while it is there (in the multi format it fills every slot).
    pub fn paused(policy: &LockPolicy, now: Timestamp) -> Lock {
        let entry = LockEntry {
            node_id: MANUAL_HOLDER.to_owned(),
            metadata: NodeMeta::default(),
            created: now,
            ttl: SignedDuration::ZERO,
            drydock: Some(DrydockFields {
                manual: true,
                acquired: Some(now),
                ..DrydockFields::default()
            }),
            extra: Map::new(),
        };
        let slots = match policy.format() {
            LockFormat::Single => 1,
            LockFormat::Multi => usize::try_from(policy.concurrency).unwrap_or(1),
        };
        Lock {
            format: policy.format(),
            max_owners: i64::from(policy.concurrency),
            holders: vec![entry; slots],
            extra: Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SINGLE_EXAMPLE: &str = r#"{"nodeID":"node-1","metadata":{"unschedulable":false},"created":"2024-07-17T12:40:44.917242595Z","TTL":0}"#;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn policy(concurrency: u32) -> LockPolicy {
        LockPolicy {
            concurrency,
            ttl: SignedDuration::ZERO,
            one_control_plane_at_a_time: true,
        }
    }

    fn entry(node: &str, created: &str, ttl_secs: i64) -> LockEntry {
        LockEntry {
            node_id: node.into(),
            metadata: NodeMeta::default(),
            created: ts(created),
            ttl: SignedDuration::from_secs(ttl_secs),
            drydock: None,
            extra: Map::new(),
        }
    }

    fn multi(entries: Vec<LockEntry>) -> Lock {
        Lock {
            format: LockFormat::Multi,
            max_owners: 2,
            holders: entries,
            extra: Map::new(),
        }
    }

    fn request(node: &str) -> AcquireRequest<'_> {
        AcquireRequest {
            node,
            role: NodeRole::Worker,
            cordoned_before: false,
            boot_id: "boot-1",
        }
    }

    fn workers(names: &[&str]) -> NodeDirectory {
        names.iter().map(|n| (*n, NodeRole::Worker)).collect()
    }

    #[test]
    fn kureds_single_example_round_trips_byte_for_byte() {
        let lock = Lock::decode(Some(SINGLE_EXAMPLE), LockFormat::Single).unwrap();
        let holder = &lock.holders()[0];
        assert_eq!(holder.node_id, "node-1");
        assert!(!holder.metadata.unschedulable);
        assert_eq!(holder.created, ts("2024-07-17T12:40:44.917242595Z"));
        assert_eq!(holder.ttl, SignedDuration::ZERO);
        assert_eq!(lock.encode().unwrap().as_deref(), Some(SINGLE_EXAMPLE));
    }

    #[test]
    fn kureds_multi_example_round_trips_byte_for_byte() {
        let text = r#"{"maxOwners":2,"locks":[{"nodeID":"n1","metadata":{"unschedulable":false},"created":"2024-07-17T12:40:44Z","TTL":1800000000000}]}"#;
        let lock = Lock::decode(Some(text), LockFormat::Multi).unwrap();
        assert_eq!(lock.holders()[0].ttl, SignedDuration::from_mins(30));
        assert_eq!(lock.encode().unwrap().as_deref(), Some(text));
    }

    #[test]
    fn the_manual_lock_reads_as_never_expiring_and_held_by_manual() {
        let lock = Lock::decode(Some(r#"{"nodeID":"manual"}"#), LockFormat::Single).unwrap();
        let holder = &lock.holders()[0];
        assert_eq!(holder.created, GO_ZERO_TIME);
        assert!(holder.is_manual());
        let far_future = ts("2999-01-01T00:00:00Z");
        assert!(!holder.is_expired(far_future));
        let acquire = lock.acquire(&request("n1"), &policy(1), &workers(&["n1"]), far_future);
        assert!(matches!(acquire, Acquire::Busy(Busy::Full { holders }) if holders == ["manual"]));
    }

    #[test]
    fn go_zero_time_prints_as_go_prints_it() {
        let lock = Lock::decode(Some(r#"{"nodeID":"manual"}"#), LockFormat::Single).unwrap();
        assert_eq!(
            lock.encode().unwrap().as_deref(),
            Some(
                r#"{"nodeID":"manual","metadata":{"unschedulable":false},"created":"0001-01-01T00:00:00Z","TTL":0}"#
            )
        );
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let text = r#"{"nodeID":"n1","metadata":{"unschedulable":true,"zone":"a"},"created":"2024-07-17T12:40:44Z","TTL":0,"future":{"x":1}}"#;
        let lock = Lock::decode(Some(text), LockFormat::Single).unwrap();
        assert_eq!(lock.encode().unwrap().as_deref(), Some(text));
        let text = r#"{"maxOwners":3,"locks":[],"owner":"team-a"}"#;
        let lock = Lock::decode(Some(text), LockFormat::Multi).unwrap();
        assert_eq!(lock.encode().unwrap().as_deref(), Some(text));
    }

    #[test]
    fn drydock_fields_ride_along_after_kureds_fields() {
        let lock = Lock::empty(LockFormat::Single);
        let now = ts("2024-07-17T12:40:44.5Z");
        let Acquire::Take(lock) = lock.acquire(&request("n1"), &policy(1), &workers(&["n1"]), now)
        else {
            panic!("should acquire");
        };
        let text = lock.encode().unwrap().unwrap();
        assert_eq!(
            text,
            r#"{"nodeID":"n1","metadata":{"unschedulable":false},"created":"2024-07-17T12:40:44.5Z","TTL":0,"drydock":{"bootID":"boot-1","acquired":"2024-07-17T12:40:44.5Z"}}"#
        );
        assert_eq!(lock.holders()[0].boot_id(), Some("boot-1"));
    }

    #[test]
    fn a_multi_lock_read_with_single_configuration_is_a_format_mismatch() {
        let text = r#"{"maxOwners":2,"locks":[]}"#;
        let err = Lock::decode_for(Some(text), &policy(1)).unwrap_err();
        assert!(matches!(
            err,
            Error::LockFormatMismatch {
                expected: LockFormat::Single,
                found: LockFormat::Multi,
            }
        ));
        let message = err.to_string();
        assert!(message.contains("format mismatch") && message.contains("refusing to write"));
    }

    #[test]
    fn a_single_lock_read_with_multi_configuration_is_a_format_mismatch() {
        let err = Lock::decode_for(Some(SINGLE_EXAMPLE), &policy(2)).unwrap_err();
        assert!(matches!(
            err,
            Error::LockFormatMismatch {
                expected: LockFormat::Multi,
                found: LockFormat::Single,
                ..
            }
        ));
    }

    #[test]
    fn an_annotation_that_is_not_a_lock_is_a_decode_error() {
        for bad in [
            "",
            "not json",
            "[]",
            "42",
            "{}",
            r#"{"nodeID":5}"#,
            r#"{"locks":{}}"#,
        ] {
            let single = Lock::decode(Some(bad), LockFormat::Single);
            let multi = Lock::decode(Some(bad), LockFormat::Multi);
            assert!(
                matches!(
                    single,
                    Err(Error::LockDecode { .. }) | Err(Error::LockFormatMismatch { .. })
                ),
                "{bad:?}"
            );
            assert!(
                matches!(
                    multi,
                    Err(Error::LockDecode { .. }) | Err(Error::LockFormatMismatch { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_null_locks_list_reads_as_empty() {
        let lock =
            Lock::decode(Some(r#"{"maxOwners":2,"locks":null}"#), LockFormat::Multi).unwrap();
        assert!(lock.holders().is_empty());
    }

    #[test]
    fn ttl_expiry_matches_kureds_ttl_expired() {
        let now = ts("2024-07-17T12:00:10Z");
        assert!(entry("n", "2024-07-17T12:00:00Z", 1).is_expired(now));
        assert!(!entry("n", "2024-07-17T12:00:10Z", 1).is_expired(now));
        assert!(entry("n", "2024-07-17T12:00:09Z", 1).is_expired(now));
        assert!(!entry("n", "2000-01-01T00:00:00Z", 0).is_expired(now));
    }

    #[test]
    fn multi_acquire_follows_kureds_can_acquire_multiple_cases() {
        let now = ts("2024-07-17T12:00:00Z");
        let fresh = "2024-07-17T11:59:00Z";
        let old = "2024-07-17T10:00:00Z";
        let nodes = workers(&["self", "a", "b"]);
        let p = policy(2);
        let take = |lock: Lock| match lock.acquire(&request("self"), &p, &nodes, now) {
            Acquire::Take(l) => Some(
                l.holders()
                    .iter()
                    .map(|e| e.node_id.clone())
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        };
        assert_eq!(take(multi(vec![])), Some(vec!["self".to_owned()]));
        assert_eq!(
            take(multi(vec![entry("a", fresh, 0)])),
            Some(vec!["a".into(), "self".into()])
        );
        assert_eq!(
            take(multi(vec![entry("a", fresh, 0), entry("b", fresh, 0)])),
            None
        );
        assert_eq!(
            take(multi(vec![entry("a", old, 60), entry("b", fresh, 0)])),
            Some(vec!["b".into(), "self".into()])
        );
        assert_eq!(
            take(multi(vec![entry("a", old, 60), entry("b", old, 60)])),
            Some(vec!["self".into()])
        );
    }

    #[test]
    fn a_holder_whose_node_is_gone_loses_the_lock_but_a_manual_lock_does_not() {
        let now = ts("2024-07-17T12:00:00Z");
        let gone = Lock {
            format: LockFormat::Single,
            max_owners: 1,
            holders: vec![entry("deleted-node", "2024-07-17T11:00:00Z", 0)],
            extra: Map::new(),
        };
        let nodes = workers(&["n1"]);
        assert!(matches!(
            gone.acquire(&request("n1"), &policy(1), &nodes, now),
            Acquire::Take(_)
        ));
        let (pruned, removed) = gone.prune(&nodes, now);
        assert!(pruned.holders().is_empty());
        assert_eq!(removed, [("deleted-node".to_owned(), Staleness::NodeGone)]);

        let paused = Lock::paused(&policy(1), now);
        assert!(matches!(
            paused.acquire(&request("n1"), &policy(1), &nodes, now),
            Acquire::Busy(_)
        ));
        let paused = Lock::paused(&policy(3), now);
        assert!(matches!(
            paused.acquire(&request("n1"), &policy(3), &nodes, now),
            Acquire::Busy(_)
        ));
    }

    #[test]
    fn a_second_control_plane_node_waits_even_with_free_slots() {
        let now = ts("2024-07-17T12:00:00Z");
        let nodes: NodeDirectory = [
            ("cp1", NodeRole::ControlPlane),
            ("cp2", NodeRole::ControlPlane),
            ("w1", NodeRole::Worker),
        ]
        .into_iter()
        .collect();
        let lock = multi(vec![entry("cp1", "2024-07-17T11:59:00Z", 0)]);
        let cp2 = AcquireRequest {
            role: NodeRole::ControlPlane,
            ..request("cp2")
        };
        assert_eq!(
            lock.acquire(&cp2, &policy(3), &nodes, now),
            Acquire::Busy(Busy::ControlPlaneHeld {
                holder: "cp1".into()
            })
        );
        assert!(matches!(
            lock.acquire(&request("w1"), &policy(3), &nodes, now),
            Acquire::Take(_)
        ));
        let opted_out = LockPolicy {
            one_control_plane_at_a_time: false,
            ..policy(3)
        };
        assert!(matches!(
            lock.acquire(&cp2, &opted_out, &nodes, now),
            Acquire::Take(_)
        ));
    }

    #[test]
    fn renewing_moves_created_forward_and_keeps_the_drydock_fields() {
        let t0 = ts("2024-07-17T12:00:00Z");
        let t1 = ts("2024-07-17T12:05:00Z");
        let p = LockPolicy {
            ttl: SignedDuration::from_mins(10),
            ..policy(1)
        };
        let Acquire::Take(lock) =
            Lock::empty(LockFormat::Single).acquire(&request("n1"), &p, &workers(&["n1"]), t0)
        else {
            panic!("should acquire");
        };
        let renewed = lock.renew("n1", &p, t1).unwrap();
        let e = renewed.entry("n1").unwrap();
        assert_eq!(e.created, t1);
        assert_eq!(e.drydock.as_ref().unwrap().acquired, Some(t0));
        assert!(renewed.holding("n1", ts("2024-07-17T12:14:59Z")).is_some());
        assert!(lock.holding("n1", ts("2024-07-17T12:14:59Z")).is_none());
        assert!(matches!(
            lock.renew("other", &p, t1),
            Err(Error::NotLockHolder { .. })
        ));
    }

    #[test]
    fn releasing_a_single_lock_removes_the_annotation_and_a_multi_lock_keeps_an_empty_list() {
        let single = Lock::decode(Some(SINGLE_EXAMPLE), LockFormat::Single).unwrap();
        assert_eq!(single.release("node-1").unwrap().encode().unwrap(), None);
        assert!(matches!(
            single.release("node-2"),
            Err(Error::NotLockHolder { .. })
        ));
        let m = multi(vec![entry("a", "2024-07-17T11:59:00Z", 0)]);
        assert_eq!(
            m.release("a").unwrap().encode().unwrap().as_deref(),
            Some(r#"{"maxOwners":2,"locks":[]}"#)
        );
    }

    fn arb_entry() -> impl Strategy<Value = LockEntry> {
        let drydock = proptest::option::of((
            proptest::option::of("[a-f0-9-]{1,36}"),
            proptest::option::of(0_i64..4_000_000_000),
            0_u32..5,
            any::<bool>(),
        ));
        (
            "[a-z0-9.-]{0,20}",
            any::<bool>(),
            -62_135_596_800_i64..253_402_300_799,
            0_i32..1_000_000_000,
            any::<i64>(),
            drydock,
            proptest::option::of("[a-z]{1,8}"),
        )
            .prop_map(
                |(node, unschedulable, secs, nanos, ttl, drydock, extra_key)| {
                    let mut extra = Map::new();
                    if let Some(key) = extra_key {
                        extra.insert(format!("x-{key}"), Value::from(secs));
                    }
                    LockEntry {
                        node_id: node,
                        metadata: NodeMeta {
                            unschedulable,
                            extra: Map::new(),
                        },
                        created: Timestamp::new(secs, nanos).unwrap(),
                        ttl: SignedDuration::from_nanos(ttl),
                        drydock: drydock.map(|(boot_id, issued, attempts, manual)| DrydockFields {
                            boot_id,
                            acquired: None,
                            reboot_issued: issued.map(|s| Timestamp::from_second(s).unwrap()),
                            reboot_attempts: attempts,
                            manual,
                            zone: None,
                            evicted: Vec::new(),
                            back_since: None,
                            extra: Map::new(),
                        }),
                        extra,
                    }
                },
            )
    }

    fn zoned(zone_of: &[(&str, &str)]) -> BTreeMap<String, String> {
        zone_of
            .iter()
            .map(|(n, z)| ((*n).to_owned(), (*z).to_owned()))
            .collect()
    }

    #[test]
    fn zone_limits_hold_the_lock_per_zone_and_across_zones_and_stamp_the_zone() {
        let now = ts("2024-07-17T12:00:00Z");
        let fresh = "2024-07-17T11:59:00Z";
        let nodes = workers(&["a1", "a2", "b1", "c1", "me"]);
        let zones = zoned(&[
            ("a1", "a"),
            ("a2", "a"),
            ("b1", "b"),
            ("c1", "c"),
            ("me", "a"),
        ]);
        let limits = ZoneLimits {
            per_zone: Some(1),
            zones: Some(2),
        };
        let view = |zone| ZoneView {
            zone,
            limits: &limits,
            zones: &zones,
        };
        let p = policy(5);
        let acquire =
            |lock: &Lock, zone| lock.acquire_in_zone(&request("me"), &p, &nodes, now, view(zone));
        let a_held = multi(vec![entry("a1", fresh, 0)]);
        assert_eq!(
            acquire(&a_held, "a"),
            Acquire::Busy(Busy::ZoneFull {
                zone: "a".into(),
                holders: vec!["a1".into()]
            })
        );
        let b_and_c = multi(vec![entry("b1", fresh, 0), entry("c1", fresh, 0)]);
        assert_eq!(
            acquire(&b_and_c, "a"),
            Acquire::Busy(Busy::TooManyZones {
                zones: vec!["b".into(), "c".into()]
            })
        );
        let Acquire::Take(taken) = acquire(&multi(vec![entry("b1", fresh, 0)]), "a") else {
            panic!("a second zone is allowed");
        };
        let mine = taken.entry("me").unwrap().drydock.as_ref().unwrap();
        assert_eq!(mine.zone.as_deref(), Some("a"));
        assert!(taken.encode().unwrap().unwrap().contains(r#""zone":"a""#));
        // The zone an entry records wins over the Node's label (which may have changed).
        let mut recorded = entry("b1", fresh, 0);
        recorded.drydock = Some(DrydockFields {
            zone: Some("a".into()),
            ..DrydockFields::default()
        });
        assert!(matches!(
            acquire(&multi(vec![recorded]), "a"),
            Acquire::Busy(Busy::ZoneFull { .. })
        ));
        // Without limits, exactly kured's acquire.
        let none = ZoneLimits::default();
        let plain = ZoneView {
            zone: "a",
            limits: &none,
            zones: &zones,
        };
        assert_eq!(
            a_held.acquire_in_zone(&request("me"), &p, &nodes, now, plain),
            a_held.acquire(&request("me"), &p, &nodes, now)
        );
    }

    proptest! {
        #[test]
        fn single_locks_round_trip(e in arb_entry()) {
            let lock = Lock { format: LockFormat::Single, max_owners: 1, holders: vec![e], extra: Map::new() };
            let text = lock.encode().unwrap().unwrap();
            prop_assert_eq!(Lock::decode(Some(&text), LockFormat::Single).unwrap(), lock);
            let mismatch = matches!(
                Lock::decode(Some(&text), LockFormat::Multi),
                Err(Error::LockFormatMismatch { .. })
            );
            prop_assert!(mismatch);
        }

        #[test]
        fn multi_locks_round_trip(entries in proptest::collection::vec(arb_entry(), 0..5), max in 0_i64..10) {
            let lock = Lock { format: LockFormat::Multi, max_owners: max, holders: entries, extra: Map::new() };
            let text = lock.encode().unwrap().unwrap();
            prop_assert_eq!(Lock::decode(Some(&text), LockFormat::Multi).unwrap(), lock);
        }

        #[test]
        fn acquiring_never_exceeds_concurrency_or_one_control_plane(
            entries in proptest::collection::vec(arb_entry(), 0..6),
            concurrency in 1_u32..4,
            node_is_cp in any::<bool>(),
            now_secs in 0_i64..4_000_000_000,
        ) {
            let now = Timestamp::from_second(now_secs).unwrap();
            let names: Vec<String> = entries.iter().map(|e| e.node_id.clone()).collect();
            let nodes: NodeDirectory = names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), if i % 2 == 0 { NodeRole::ControlPlane } else { NodeRole::Worker }))
                .chain([("me".to_owned(), if node_is_cp { NodeRole::ControlPlane } else { NodeRole::Worker })])
                .collect();
            let p = policy(concurrency);
            let format = p.format();
            let holders = if format == LockFormat::Single { entries.into_iter().take(1).collect() } else { entries };
            let lock = Lock { format, max_owners: 2, holders, extra: Map::new() };
            let live_before = lock.live_holders(&nodes, now).count();
            let req = AcquireRequest {
                role: nodes.role("me").unwrap(),
                ..request("me")
            };
            if let Acquire::Take(after) = lock.acquire(&req, &p, &nodes, now) {
                let live: Vec<&LockEntry> = after.live_holders(&nodes, now).collect();
                prop_assert!(live.len() <= usize::try_from(concurrency).unwrap());
                prop_assert!(live.len() <= live_before + 1);
                prop_assert!(after.holding("me", now).is_some());
                if node_is_cp {
                    let cps = live.iter().filter(|e| nodes.role(&e.node_id) == Some(NodeRole::ControlPlane)).count();
                    prop_assert!(cps <= 1);
                }
            }
        }
    }
}
