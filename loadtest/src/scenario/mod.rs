//! The scenarios. Each named scenario (idle, direct, group, mixed) only picks default counts
//! (see `config.rs`); they all become a [`Plan`] here: which socket is in which conversation,
//! which sockets send, which churn. One engine ([`run`]) then provisions, connects and drives
//! any plan, so every scenario is measured and checked the same way.

mod run;
mod schedule;

pub use run::execute;

use crate::config::{Config, Shape};

/// One conversation to create: `members[0]` creates it (the group's owner).
#[derive(Clone, Debug)]
pub struct ConvPlan {
    pub group: bool,
    pub members: Vec<usize>,
}

/// Who does what. Socket i is user i.
#[derive(Clone, Debug)]
pub struct Plan {
    pub sockets: usize,
    pub convs: Vec<ConvPlan>,
    /// (socket, its conversation) for every sender slot; sends go round-robin over them.
    pub senders: Vec<(usize, usize)>,
    pub churners: Vec<bool>,
    /// Messages per second over all slots.
    pub rate: f64,
    /// The shape this plan was laid out from (after sharding).
    pub shape: Shape,
}

impl Plan {
    /// Lays out `config`'s shape (this shard's part of it): pairs first, then groups, then
    /// idle sockets.
    pub fn new(config: &Config) -> Self {
        let s = &config.shape;
        let shard = config.shard;
        let shape = Shape {
            idle: shard.part(s.idle),
            pairs: shard.part(s.pairs),
            groups: shard.part(s.groups),
            group_size: s.group_size,
            senders: s.senders,
            churn: shard.part(s.churn),
        };
        let mut convs = Vec::new();
        let mut direct_a = Vec::new();
        let mut direct_b = Vec::new();
        for p in 0..shape.pairs {
            let (a, b) = (2 * p, 2 * p + 1);
            direct_a.push((a, convs.len()));
            direct_b.push((b, convs.len()));
            convs.push(ConvPlan {
                group: false,
                members: vec![a, b],
            });
        }
        let first_group = 2 * shape.pairs;
        let mut group_slots = Vec::new();
        for s in 0..shape.senders {
            for g in 0..shape.groups {
                group_slots.push((first_group + g * shape.group_size + s, convs.len() + g));
            }
        }
        for g in 0..shape.groups {
            let start = first_group + g * shape.group_size;
            convs.push(ConvPlan {
                group: true,
                members: (start..start + shape.group_size).collect(),
            });
        }
        let sockets = shape.sockets();
        let senders = direct_a
            .into_iter()
            .chain(direct_b)
            .chain(group_slots)
            .collect();
        let rate = config.rate / shard.count as f64;
        let churners = churners(&shape, sockets);
        Plan {
            sockets,
            convs,
            senders,
            churners,
            rate,
            shape,
        }
    }

    /// For each socket, the conversations (indices into `convs`) it is in.
    pub fn memberships(&self) -> Vec<Vec<usize>> {
        let mut of = vec![Vec::new(); self.sockets];
        for (c, conv) in self.convs.iter().enumerate() {
            for &m in &conv.members {
                of[m].push(c);
            }
        }
        of
    }
}

/// Which sockets churn: pair partners (the b side) first, then group members from the back
/// (non-senders first), then idle sockets.
fn churners(shape: &Shape, sockets: usize) -> Vec<bool> {
    let first_group = 2 * shape.pairs;
    let first_idle = first_group + shape.groups * shape.group_size;
    let pair_b = (0..shape.pairs).map(|p| 2 * p + 1);
    let members = (first_group..first_idle).rev();
    let idle = first_idle..sockets;
    let mut out = vec![false; sockets];
    for i in pair_b.chain(members).chain(idle).take(shape.churn) {
        out[i] = true;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Scenario, Shard, Target};

    #[test]
    fn a_mixed_shape_lays_out_pairs_groups_and_idle_sockets() {
        let mut c = Config::new(Scenario::Mixed, Target::Urls(vec!["http://x".into()]));
        c.shape = Shape {
            idle: 3,
            pairs: 2,
            groups: 2,
            group_size: 3,
            senders: 2,
            churn: 3,
        };
        let p = Plan::new(&c);
        assert_eq!(p.sockets, 13);
        assert_eq!(p.convs.len(), 4);
        assert_eq!(p.convs[3].members, vec![7, 8, 9]);
        assert_eq!(p.senders.len(), 4 + 4);
        assert_eq!(&p.senders[4..6], &[(4, 2), (7, 3)]);
        let churning: Vec<usize> = (0..13).filter(|&i| p.churners[i]).collect();
        assert_eq!(churning, vec![1, 3, 9]);
        assert_eq!(p.memberships()[8], vec![3]);
        c.shard = Shard { index: 1, count: 2 };
        assert_eq!(Plan::new(&c).sockets, 1 + 2 + 3);
    }
}
