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
//! **Size.** The LP for `t` is restricted to the cells within two equations of `t` (every
//! equation touching them kept, cells outside held unchanged), widened one equation at a
//! time when it is infeasible: any `y` found there is an alternative table of the whole
//! release, so the restriction costs optimality, never safety. The audit splits the hidden
//! cells into components sharing no equation (`Model::components`) and solves each on its
//! own, so national releases stay tractable.

use super::model::{Hierarchies, Model, Origin, SuppressionError};
use super::release::{CellKey, ConfStatus};
use microlp::{ComparisonOp, OptimizationDirection, Problem, Variable};
use std::collections::{BTreeMap, HashMap, VecDeque};

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
    let model = Model::build(cells, hierarchies, earlier)?;
    let mut hidden: Vec<bool> = (0..model.keys.len())
        .map(|v| model.origin[v] == Origin::Absent || model.hidden_earlier[v])
        .collect();
    let mut status = BTreeMap::new();
    for (key, &value) in cells {
        let var = model.index[key];
        let primary = (1..threshold).contains(&value);
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
    while let Some(target) = queue.pop_front() {
        for added in protect(&model, &mut hidden, target, threshold as f64)? {
            status.insert(model.keys[added].clone(), ConfStatus::C);
            queue.push_back(added);
        }
    }
    Ok(Suppression { status })
}

/// Hides published cells until `target` has an alternative table `threshold` above it that
/// changes no published cell; returns the cells it hid.
fn protect(
    model: &Model,
    hidden: &mut [bool],
    target: usize,
    threshold: f64,
) -> Result<Vec<usize>, SuppressionError> {
    let mut added = Vec::new();
    let mut radius = 2;
    let mut region = neighbourhood(model, target, radius);
    // A cell of at least the threshold may also be protected by a table below it.
    let mut directions = vec![1.0];
    if model.value[target].is_some_and(|x| x as f64 >= threshold) {
        directions.push(-1.0);
    }
    loop {
        let mut best: Option<(f64, Vec<usize>)> = None;
        for &direction in &directions {
            if let Some((cost, changed)) =
                alternative(model, hidden, &region, target, direction * threshold)?
            {
                if best.as_ref().is_none_or(|(c, _)| cost < *c) {
                    best = Some((cost, changed));
                }
            }
        }
        match best {
            Some((_, changed)) if changed.is_empty() => return Ok(added),
            Some((_, changed)) => {
                for v in changed {
                    hidden[v] = true;
                    added.push(v);
                }
            }
            None => {
                radius += 1;
                let wider = neighbourhood(model, target, radius);
                if wider.len() == region.len() {
                    return Err(SuppressionError::Unprotectable(model.keys[target].clone()));
                }
                region = wider;
            }
        }
    }
}

/// The variables within `radius` equations of `target` (the target first).
fn neighbourhood(model: &Model, target: usize, radius: usize) -> Vec<usize> {
    let mut depth: HashMap<usize, usize> = HashMap::from([(target, 0)]);
    let mut order = vec![target];
    let mut next = 0;
    while next < order.len() {
        let v = order[next];
        next += 1;
        let d = depth[&v];
        if d == radius {
            continue;
        }
        for &id in &model.equations_of[v] {
            for &w in &model.equations[id] {
                if let std::collections::hash_map::Entry::Vacant(e) = depth.entry(w) {
                    e.insert(d + 1);
                    order.push(w);
                }
            }
        }
    }
    order
}

/// The least-cost alternative table within `region` (see the module doc) that changes
/// `target` by at least `shift` (up when positive, down when negative): its cost and the
/// published cells it changes, or `None` if there is none within the region.
fn alternative(
    model: &Model,
    hidden: &[bool],
    region: &[usize],
    target: usize,
    shift: f64,
) -> Result<Option<(f64, Vec<usize>)>, SuppressionError> {
    let mut problem = Problem::new(OptimizationDirection::Minimize);
    // y_v for each cell of the region that may change; published cells as y = up − down.
    let mut change: HashMap<usize, Vec<(Variable, f64)>> = HashMap::new();
    let mut published: Vec<(usize, Variable, Variable)> = Vec::new();
    for &v in region {
        if model.locked[v] {
            continue;
        }
        let value = model.value[v];
        if hidden[v] {
            let low = value.map_or(0.0, |x| -(x as f64));
            let bounds = match v == target {
                true if shift > 0.0 => (shift, f64::INFINITY),
                true => (low, shift),
                false => (low, f64::INFINITY),
            };
            let y = problem.add_var(0.0, bounds);
            change.insert(v, vec![(y, 1.0)]);
        } else {
            let x = value.unwrap_or(0) as f64;
            let cost = (1.0 + (1.0 + x).ln()) * (1.0 + 0.25 * model.equations_of[v].len() as f64);
            let up = problem.add_var(cost, (0.0, f64::INFINITY));
            let down = problem.add_var(cost, (0.0, x));
            change.insert(v, vec![(up, 1.0), (down, -1.0)]);
            published.push((v, up, down));
        }
    }
    let mut equations: Vec<usize> = region
        .iter()
        .flat_map(|&v| model.equations_of[v].iter().copied())
        .collect();
    equations.sort_unstable();
    equations.dedup();
    for id in equations {
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
    Ok(Some((solution.objective(), changed)))
}
