//! The audit of a suppression pattern: for every hidden cell, the smallest and the largest
//! value it can take given everything published — the published values fixed, the
//! hierarchy equations, every cell non-negative (the continuous LP relaxation; the audit of
//! τ-ARGUS, Hundepool et al., *Statistical Disclosure Control*, Wiley 2012, §5.4). A pattern
//! protects a cell when that interval is at least the threshold wide.

use super::model::{Hierarchies, Model, Origin, SuppressionError};
use super::release::{CellKey, ConfStatus};
use microlp::{ComparisonOp, OptimizationDirection, Problem, Variable};
use std::collections::{BTreeMap, HashMap};

/// The values a hidden cell can take given everything published.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// The LP minimum.
    pub min: f64,
    /// The LP maximum (`f64::INFINITY` when nothing bounds it).
    pub max: f64,
}

impl Interval {
    /// `max - min`.
    pub fn width(&self) -> f64 {
        self.max - self.min
    }
}

/// Audits `status` (every release cell's status; a cell missing is published) of the
/// release `cells` with the `earlier` releases' cells as known facts: the interval of every
/// suppressed cell of this release and of every cell suppressed earlier.
pub fn audit(
    cells: &BTreeMap<CellKey, u64>,
    hierarchies: &Hierarchies,
    status: &BTreeMap<CellKey, ConfStatus>,
    earlier: &[(CellKey, Option<u64>)],
) -> Result<BTreeMap<CellKey, Interval>, SuppressionError> {
    let model = Model::build(cells, hierarchies, earlier)?;
    let hidden = model.hidden(status)?;
    Ok(audit_model(&model, &hidden)?
        .into_iter()
        .map(|(var, interval)| (model.keys[var].clone(), interval))
        .collect())
}

/// The interval of every hidden variable that is a cell of a release (not an absent one),
/// one component of hidden variables at a time.
pub(crate) fn audit_model(
    model: &Model,
    hidden: &[bool],
) -> Result<BTreeMap<usize, Interval>, SuppressionError> {
    let mut intervals = BTreeMap::new();
    for component in model.components(hidden) {
        let targets: Vec<usize> = component
            .iter()
            .copied()
            .filter(|&v| model.origin[v] != Origin::Absent)
            .collect();
        for target in targets {
            let min = extreme(model, hidden, &component, target, false)?;
            let max = extreme(model, hidden, &component, target, true)?;
            intervals.insert(target, Interval { min, max });
        }
    }
    Ok(intervals)
}

/// The LP minimum or maximum of `target` over the hidden variables of its `component`.
fn extreme(
    model: &Model,
    hidden: &[bool],
    component: &[usize],
    target: usize,
    maximise: bool,
) -> Result<f64, SuppressionError> {
    let direction = if maximise {
        OptimizationDirection::Maximize
    } else {
        OptimizationDirection::Minimize
    };
    let mut problem = Problem::new(direction);
    let vars: HashMap<usize, Variable> = component
        .iter()
        .map(|&v| {
            let objective = if v == target { 1.0 } else { 0.0 };
            (v, problem.add_var(objective, (0.0, f64::INFINITY)))
        })
        .collect();
    for id in model.equations_around(component) {
        let (terms, rhs) = model.terms(hidden, &vars, id);
        problem.add_constraint(terms, ComparisonOp::Eq, rhs);
    }
    match problem.solve() {
        Ok(outcome) => match outcome.into_solution() {
            Ok(solution) => Ok(solution.var_value(vars[&target])),
            Err(_) => Err(SuppressionError::Solver("interrupted".into())),
        },
        Err(microlp::Error::Unbounded) if maximise => Ok(f64::INFINITY),
        Err(e) => Err(e.into()),
    }
}
