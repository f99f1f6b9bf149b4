//! Which teams, departments and cost centers a digest may name, so that no figure of a group of
//! fewer than K people can be read from it, or worked out from it by subtraction.
//!
//! Trusts the window tallies. Guarantees, for one window and the three dimensions together: take
//! every published group as a block and everything else of its dimension as that dimension's
//! `other` block, and cut the events by all three at once into *atoms* (team block × department
//! block × cost-center block). Every figure a reader can see, or get by adding and subtracting
//! the figures shown (a group, an `other`, a department minus its teams, a total minus its
//! listed groups), is a sum over whole atoms. So the rule is: **every atom that holds an event
//! holds at least K distinct people**, and a non-empty `other` holds at least two groups. While
//! an atom is smaller, it is merged with its cheapest neighbour: for each other cell, the named
//! groups to fold so that the cell falls into the same atom; the fewest people folded wins
//! (ties: less cost in micro-dollars, then the groups by dimension and name, `(not set)`
//! first). While an `other` holds a single group, the smallest named group of that dimension
//! joins it (ties likewise). Each step names at least one group fewer, so the work is bounded
//! by groups × cells.
//!
//! The previous window starts from the groups named in the current one and folds further by the
//! same rule over its own events: a previous figure is shown only for a group whose atoms of that
//! window hold at least K people.

use super::tally::{Cell, GroupTally, UserId};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// The groups named in each dimension (team, department, cost center); `None` names the events
/// without the attribute, `(not set)`.
pub type Named = [BTreeSet<Option<String>>; 3];

/// Per group of one dimension: distinct people, and cost.
type Sizes<'c> = BTreeMap<&'c Option<String>, (HashSet<UserId>, f64)>;

/// Groups to fold, by dimension and name.
type Folds = Vec<(usize, Option<String>)>;

fn group_sizes(cells: &BTreeMap<Cell, GroupTally>, dim: usize) -> Sizes<'_> {
    let mut out = Sizes::new();
    for (cell, g) in cells {
        let e = out.entry(&cell[dim]).or_default();
        e.0.extend(g.users.iter().copied());
        e.1 += g.cost_usd;
    }
    out
}

/// The groups of each dimension with at least `k` people in `cells`.
pub fn large_groups(cells: &BTreeMap<Cell, GroupTally>, k: u64) -> Named {
    std::array::from_fn(|dim| {
        group_sizes(cells, dim)
            .into_iter()
            .filter(|(_, (users, _))| users.len() as u64 >= k)
            .map(|(n, _)| n.clone())
            .collect()
    })
}

/// Folds named groups into `other` until every non-empty atom of `cells` holds at least `k`
/// people and every non-empty `other` holds at least two groups.
pub fn fold(cells: &BTreeMap<Cell, GroupTally>, k: u64, mut named: Named) -> Named {
    let sizes: [Sizes<'_>; 3] = std::array::from_fn(|d| group_sizes(cells, d));
    let weight = |d: usize, n: &Option<String>| sizes[d].get(n).map_or((0, 0), |(u, c)| (u.len(), ordered(*c)));
    loop {
        let fold: Folds = if let Some(atom) = small_atom(cells, k, &named) {
            // Merge the small atom with its cheapest neighbour: for each other cell, the groups
            // to fold so that the cell falls into the same atom; the fewest people folded wins
            // (then less cost, then the groups' order).
            let mut best: Option<((usize, u64), Folds)> = None;
            for cell in cells.iter().filter(|(_, g)| g.events > 0).map(|(c, _)| c) {
                let mut groups = Vec::new();
                for d in 0..3 {
                    let block = named[d].contains(&cell[d]).then(|| cell[d].clone());
                    if block == atom[d] {
                        continue;
                    }
                    groups.extend(atom[d].clone().map(|n| (d, n)));
                    groups.extend(block.map(|n| (d, n)));
                }
                if groups.is_empty() {
                    continue;
                }
                groups.sort();
                groups.dedup();
                let cost = groups.iter().fold((0, 0), |(u, c), (d, n)| {
                    let (wu, wc) = weight(*d, n);
                    (u + wu, c + wc)
                });
                if best.as_ref().is_none_or(|(b, g)| (cost, &groups) < (*b, g)) {
                    best = Some((cost, groups));
                }
            }
            best.map(|(_, g)| g).unwrap_or_default()
        } else {
            (0..3)
                .find_map(|d| {
                    let other = sizes[d].keys().filter(|n| !named[d].contains(**n)).count();
                    let smallest = named[d].iter().min_by_key(|n| (weight(d, n), (*n).clone()));
                    smallest.filter(|_| other == 1).map(|n| vec![(d, n.clone())])
                })
                .unwrap_or_default()
        };
        if fold.is_empty() {
            return named;
        }
        for (d, n) in fold {
            named[d].remove(&n);
        }
    }
}

/// Costs compared in micro-dollars, as the report rounds them (so the order does not depend on
/// the order the costs were added in).
fn ordered(x: f64) -> u64 {
    (x * 1e6).round() as u64
}

/// The first atom (by its blocks, `None` for `other`) that holds an event but fewer than `k`
/// people.
fn small_atom(cells: &BTreeMap<Cell, GroupTally>, k: u64, named: &Named) -> Option<[Option<Option<String>>; 3]> {
    let mut atoms: BTreeMap<[Option<&Option<String>>; 3], HashSet<UserId>> = BTreeMap::new();
    for (cell, g) in cells.iter().filter(|(_, g)| g.events > 0) {
        let block: [Option<&Option<String>>; 3] = std::array::from_fn(|d| named[d].get(&cell[d]));
        atoms.entry(block).or_default().extend(g.users.iter().copied());
    }
    atoms.into_iter().find(|(_, users)| (users.len() as u64) < k).map(|(block, _)| block.map(|b| b.cloned()))
}

/// The groups of `dim` not in `named`, with events in `cells`: how many, their distinct people
/// and their cost.
pub fn remainder(cells: &BTreeMap<Cell, GroupTally>, dim: usize, named: &BTreeSet<Option<String>>) -> (u64, u64, f64) {
    let mut groups = BTreeSet::new();
    let mut users = HashSet::new();
    let mut cost = 0.0;
    for (cell, g) in cells.iter().filter(|(c, g)| g.events > 0 && !named.contains(&c[dim])) {
        groups.insert(&cell[dim]);
        users.extend(g.users.iter().copied());
        cost += g.cost_usd;
    }
    (groups.len() as u64, users.len() as u64, cost)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(team: &str, dept: &str, users: &[UserId], cost: f64) -> (Cell, GroupTally) {
        let name = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        (
            [name(team), name(dept), None],
            GroupTally { events: users.len() as u64, users: users.iter().copied().collect(), cost_usd: cost },
        )
    }

    fn names(set: &BTreeSet<Option<String>>) -> Vec<&str> {
        set.iter().map(|n| n.as_deref().unwrap_or("(not set)")).collect()
    }

    #[test]
    fn a_single_small_group_takes_the_smallest_large_one_with_it() {
        let cells: BTreeMap<Cell, GroupTally> = [
            cell("platform", "eng", &[1, 2, 3, 4, 5], 50.0),
            cell("payments", "eng", &[6, 7, 8], 30.0),
            cell("design", "eng", &[9, 10], 20.08),
        ]
        .into_iter()
        .collect();
        let named = fold(&cells, 3, large_groups(&cells, 3));
        assert_eq!(names(&named[0]), ["platform"]);
        assert_eq!(remainder(&cells, 0, &named[0]), (2, 5, 50.08));
    }

    #[test]
    fn a_department_cannot_be_subtracted_down_to_a_small_team() {
        // eng = platform (3) + design (1): eng minus platform would be design's one person.
        let cells: BTreeMap<Cell, GroupTally> = [
            cell("platform", "eng", &[1, 2, 3], 30.0),
            cell("design", "eng", &[4], 7.0),
            cell("sales-a", "sales", &[5, 6, 7], 10.0),
            cell("sales-b", "sales", &[8, 9, 10], 10.0),
        ]
        .into_iter()
        .collect();
        let named = fold(&cells, 3, large_groups(&cells, 3));
        // Every atom holds at least 3 people.
        let atom_ok = small_atom(&cells, 3, &named).is_none();
        assert!(atom_ok, "{named:?}");
        // design's cost is in no atom of its own: it shares one with at least 2 more people.
        assert!(!(named[0].contains(&Some("platform".into())) && named[1].contains(&Some("eng".into()))));
    }
}
