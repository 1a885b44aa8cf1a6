//! Primary and secondary (complementary) suppression of a release's counts, with a
//! guarantee that holds against an attacker who knows the hierarchies.
//!
//! **What is protected.** A count of 1 up to the threshold (exclusive) is hidden (primary,
//! `CONF_STATUS` `A`); zero is published. An attacker knows every published value, that
//! every cell is non-negative, the equations of the hierarchies (`model.rs`: a cell is the
//! sum of its children on each axis; a child in no release is an unknown non-negative
//! variable) and the values of earlier releases of the same dataset. A pattern is safe when
//! every hidden cell — primary or complementary (`C`) — can still take values at least the
//! threshold apart: the LP minimum and maximum of the cell given all of that differ by at
//! least the threshold (the continuous relaxation; `audit.rs` computes the intervals).
//!
//! **How.** The LP heuristic of Fischetti and Salazar-González ("Models and algorithms
//! for optimizing cell suppression in tabular data with linear constraints", JASA 95, 2000),
//! as described in Hundepool et al., *Statistical Disclosure Control* (Wiley 2012), ch. 5
//! (§5.4, the audit of τ-ARGUS and its LP-based suppression). Each hidden cell `t` in turn
//! (primaries in key order, then every complement as it is added) needs an *alternative
//! table*: a change `y` of the cells with `y_t ≥ threshold` that keeps every equation,
//! keeps every cell non-negative (`x + y ≥ 0`; an absent cell or one whose value is unknown
//! only grows) and changes no cell published earlier. Among them the LP picks the one of
//! least cost, where changing a published cell by one unit costs
//! `(1 + ln(1 + value)) · (1 + ¼ · equations it is in)` — small values and cells in few
//! margins first — and changing a hidden cell costs nothing. Every published cell the chosen
//! `y` changes is hidden (`C`), and the LP is solved again until `y` needs no published cell.
//! A cell of at least the threshold may instead have its alternative table below it
//! (`y_t ≤ −threshold`); the cheaper of the two is taken.
//! Then the true table and `x + y` are both consistent with everything published and differ
//! in `t` by the threshold, so `t`'s interval is at least that wide. Hiding more cells only
//! widens intervals, so a cell once protected stays protected, and one pass suffices.
//!
//! **Size.** The LP for `t` is restricted to the cells near `t` — on every axis its code,
//! the code's parent and siblings and its children that are release cells, crossed — with
//! the unknowns of their equations (every equation touching them kept, cells outside held
//! unchanged), widened by the cells sharing an equation with it while it is infeasible: any
//! `y` found there is an alternative table of the whole release, so the restriction costs
//! optimality, never safety. A hidden cell that an alternative table already moves by the
//! threshold is protected by it and needs no LP of its own. Unknown counts (absent cells,
//! cells suppressed earlier) get a consistent non-negative completion first
//! (`Model::complete`); absent children that are in one equation only are one unknown. The
//! audit splits the hidden cells into components sharing no equation (`Model::components`)
//! and solves each on its own.
//!
//! **Limits.** A heuristic, not an optimal pattern: it hides more than the minimum (on the
//! `release-gen` tables about three complements per primary). In debug builds a release of
//! about 1,500 cells takes seconds; national releases need a release build, and the LP per
//! hidden cell grows with the number of linked cells around it.

use super::model::{AXES, Hierarchies, Model, Origin, SuppressionError};
use super::release::{CellKey, ConfStatus};
use microlp::{ComparisonOp, OptimizationDirection, Problem, Variable};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

/// The threshold of the project: counts of 1 and 2 are not published.
pub const DEFAULT_THRESHOLD: u64 = 3;

/// A change of a published cell smaller than this is the solver's round-off, not a use.
const USED: f64 = 1e-6;

/// The pattern of a release.
#[derive(Debug, Clone, PartialEq)]
pub struct Suppression {
    /// Every release cell's status.
    pub status: BTreeMap<CellKey, ConfStatus>,
}

impl Suppression {
    /// The number of cells with `status`.
    pub fn count(&self, status: ConfStatus) -> usize {
        self.status.values().filter(|&&s| s == status).count()
    }
}

/// Suppresses the release `cells` (its counts) with `threshold` (see the module doc), given
/// the cells of earlier releases of the same dataset (`Some(value)` published, `None`
/// suppressed). A cell published earlier stays published (its value is known: hiding it
/// protects nothing), even when its count is below the threshold; a cell suppressed earlier
/// stays suppressed.
pub fn suppress(
    cells: &BTreeMap<CellKey, u64>,
    hierarchies: &Hierarchies,
    threshold: u64,
    earlier: &[(CellKey, Option<u64>)],
) -> Result<Suppression, SuppressionError> {
    suppress_with(cells, hierarchies, threshold, earlier, &BTreeSet::new())
}

/// [`suppress`] with more primary cells: the `sensitive` counts are hidden as primary (`A`)
/// whatever their value — a count whose change since a revised earlier release is below the
/// threshold (`revisions.rs`).
pub fn suppress_with(
    cells: &BTreeMap<CellKey, u64>,
    hierarchies: &Hierarchies,
    threshold: u64,
    earlier: &[(CellKey, Option<u64>)],
    sensitive: &BTreeSet<CellKey>,
) -> Result<Suppression, SuppressionError> {
    let model = Model::build(cells, hierarchies, earlier)?;
    let mut hidden: Vec<bool> = (0..model.keys.len())
        .map(|v| model.origin[v] == Origin::Absent || model.hidden_earlier[v])
        .collect();
    let mut status = BTreeMap::new();
    for (key, &value) in cells {
        let var = model.index[key];
        let primary = (1..threshold).contains(&value) || sensitive.contains(key);
        let conf = if model.locked[var] {
            ConfStatus::F
        } else if primary {
            ConfStatus::A
        } else if model.hidden_earlier[var] {
            ConfStatus::C
        } else {
            ConfStatus::F
        };
        hidden[var] = conf != ConfStatus::F;
        status.insert(key.clone(), conf);
    }
    let mut queue: VecDeque<usize> = (0..model.keys.len())
        .filter(|&v| hidden[v] && model.origin[v] != Origin::Absent)
        .collect();
    let mut protected = vec![false; model.keys.len()];
    while let Some(target) = queue.pop_front() {
        if protected[target] {
            continue;
        }
        let (added, moved) = protect(&model, hierarchies, &mut hidden, target, threshold as f64)?;
        for v in added {
            status.insert(model.keys[v].clone(), ConfStatus::C);
            queue.push_back(v);
        }
        for v in moved {
            protected[v] = true;
        }
    }
    Ok(Suppression { status })
}

/// Hides published cells until `target` has an alternative table at least `threshold` away
/// that changes no published cell; returns the cells it hid and the hidden cells that
/// alternative table moves by at least the threshold (protected by it too).
fn protect(
    model: &Model,
    hierarchies: &Hierarchies,
    hidden: &mut [bool],
    target: usize,
    threshold: f64,
) -> Result<(Vec<usize>, Vec<usize>), SuppressionError> {
    let mut added = Vec::new();
    let mut region = local(model, hierarchies, target);
    // A cell of at least the threshold may also be protected by a table below it.
    let mut directions = vec![1.0];
    if model.level[target] >= threshold {
        directions.push(-1.0);
    }
    loop {
        let mut best: Option<Alternative> = None;
        for &direction in &directions {
            if best.as_ref().is_some_and(|b| b.changed.is_empty()) {
                break;
            }
            if let Some(found) = alternative(model, hidden, &region, target, direction * threshold)?
                && best.as_ref().is_none_or(|b| found.cost < b.cost)
            {
                best = Some(found);
            }
        }
        match best {
            Some(found) if found.changed.is_empty() => return Ok((added, found.moved)),
            Some(found) => {
                for v in found.changed {
                    hidden[v] = true;
                    added.push(v);
                }
            }
            None => {
                let wider = widen(model, &region);
                if wider.len() == region.len() {
                    return Err(SuppressionError::Unprotectable(model.keys[target].clone()));
                }
                region = wider;
            }
        }
    }
}

/// The cells around `target` where alternative tables usually lie: on every axis its code,
/// the code's parent and siblings, and its children where they are release cells (the
/// hypercube of the classic patterns and the margins one level up and down); with the
/// unknowns of their equations.
fn local(model: &Model, hierarchies: &Hierarchies, target: usize) -> Vec<usize> {
    let key = &model.keys[target];
    let codes: Vec<Vec<&str>> = (0..AXES.len())
        .map(|axis| {
            let code = key.code(axis);
            let mut near = vec![code];
            near.extend(
                hierarchies
                    .children(axis, code)
                    .iter()
                    .filter(|c| {
                        let child = model.index.get(&key.with_code(axis, c));
                        child.is_some_and(|&v| model.origin[v] != Origin::Absent)
                    })
                    .map(String::as_str),
            );
            if let Some(parent) = hierarchies.codelists[axis].parent.get(code) {
                near.push(parent);
                near.extend(
                    hierarchies
                        .children(axis, parent)
                        .iter()
                        .map(String::as_str),
                );
            }
            near.sort_unstable();
            near.dedup();
            near
        })
        .collect();
    let mut region = vec![target];
    let mut keys = vec![key.clone()];
    for (axis, near) in codes.iter().enumerate() {
        keys = keys
            .iter()
            .flat_map(|k| near.iter().map(move |c| k.with_code(axis, c)))
            .collect();
    }
    region.extend(
        keys.iter()
            .filter_map(|k| model.index.get(k).copied())
            .filter(|&v| v != target && model.origin[v] != Origin::Absent),
    );
    let unknowns: Vec<usize> = model
        .equations_around(&region)
        .into_iter()
        .flat_map(|id| model.equations[id].iter().copied())
        .filter(|&v| model.origin[v] == Origin::Absent)
        .collect();
    let mut seen: HashSet<usize> = region.iter().copied().collect();
    region.extend(unknowns.into_iter().filter(|&v| seen.insert(v)));
    region
}

/// `region` and every cell sharing an equation with it.
fn widen(model: &Model, region: &[usize]) -> Vec<usize> {
    let mut seen: HashSet<usize> = region.iter().copied().collect();
    let mut wider = region.to_vec();
    for &id in &model.equations_around(region) {
        for &w in &model.equations[id] {
            if seen.insert(w) {
                wider.push(w);
            }
        }
    }
    wider
}

/// An alternative table: its cost, the published cells it changes and the hidden cells it
/// moves by at least the threshold.
struct Alternative {
    cost: f64,
    changed: Vec<usize>,
    moved: Vec<usize>,
}

/// The least-cost alternative table within `region` (see the module doc) that changes
/// `target` by at least `shift` (up when positive, down when negative), or `None` if there
/// is none within the region.
fn alternative(
    model: &Model,
    hidden: &[bool],
    region: &[usize],
    target: usize,
    shift: f64,
) -> Result<Option<Alternative>, SuppressionError> {
    let mut problem = Problem::new(OptimizationDirection::Minimize);
    // y_v for each cell of the region that may change; published cells as y = up − down.
    let mut change: HashMap<usize, Vec<(Variable, f64)>> = HashMap::new();
    let mut published: Vec<(usize, Variable, Variable)> = Vec::new();
    let mut free: Vec<(usize, Variable)> = Vec::new();
    for &v in region {
        if model.locked[v] {
            continue;
        }
        let level = model.level[v];
        if hidden[v] {
            let bounds = match v == target {
                true if shift > 0.0 => (shift, f64::INFINITY),
                true => (-level, shift),
                false => (-level, f64::INFINITY),
            };
            let y = problem.add_var(0.0, bounds);
            change.insert(v, vec![(y, 1.0)]);
            free.push((v, y));
        } else {
            let cost =
                (1.0 + (1.0 + level).ln()) * (1.0 + 0.25 * model.equations_of[v].len() as f64);
            let up = problem.add_var(cost, (0.0, f64::INFINITY));
            let down = problem.add_var(cost, (0.0, level));
            change.insert(v, vec![(up, 1.0), (down, -1.0)]);
            published.push((v, up, down));
        }
    }
    for id in model.equations_around(region) {
        let mut terms: Vec<(Variable, f64)> = Vec::new();
        for (i, v) in model.equations[id].iter().enumerate() {
            let coefficient = if i == 0 { 1.0 } else { -1.0 };
            if let Some(parts) = change.get(v) {
                terms.extend(parts.iter().map(|&(var, sign)| (var, sign * coefficient)));
            }
        }
        if !terms.is_empty() {
            problem.add_constraint(terms, ComparisonOp::Eq, 0.0);
        }
    }
    let solution = match problem.solve() {
        Ok(outcome) => outcome
            .into_solution()
            .map_err(|_| SuppressionError::Solver("interrupted".into()))?,
        Err(microlp::Error::Infeasible) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let changed = published
        .into_iter()
        .filter(|&(_, up, down)| solution.var_value(up) + solution.var_value(down) > USED)
        .map(|(v, _, _)| v)
        .collect();
    let moved = free
        .into_iter()
        .filter(|&(_, y)| solution.var_value(y).abs() >= shift.abs() - USED)
        .map(|(v, _)| v)
        .collect();
    Ok(Some(Alternative {
        cost: solution.objective(),
        changed,
        moved,
    }))
}
