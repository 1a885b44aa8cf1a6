//! The linear system a release publishes: every cell a variable, every hierarchy an equation.
//!
//! For every cell of the release (and of earlier releases of the same dataset) and every
//! axis on which its code has children in that axis's [`Codelist`], the cell equals the sum
//! of its children on that axis (the same key with the code replaced by each child). A child
//! that is in no release is an *absent* variable: unknown, non-negative, never published.
//! Disclosure control (`suppression.rs`) and its audit (`audit.rs`) both work on this
//! system; an attacker knows it and every published value.

use super::release::{CellKey, Codelist, ConfStatus};
use microlp::{ComparisonOp, OptimizationDirection, Problem, Variable};
use std::collections::{BTreeMap, HashMap};

/// The axes of a cell: the five [`super::DIMENSIONS`] and the indicator, in
/// [`CellKey::code`] order.
pub const AXES: [&str; 6] = [
    "period",
    "atvk",
    "age_band",
    "sex",
    "instrument",
    "indicator",
];

/// One [`Codelist`] per entry of [`AXES`] (the indicator's says e.g. that `screenings` is
/// the sum of `screenings_risk_low`, `…_medium`, `…_high` and `…_urgent`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hierarchies {
    /// The codelists, indexed as [`AXES`].
    pub codelists: [Codelist; 6],
    /// Each axis's code → its children, in code order (built from `codelists`).
    children: [BTreeMap<String, Vec<String>>; 6],
}

impl Hierarchies {
    /// The hierarchies of the six axes, indexed as [`AXES`].
    pub fn new(codelists: [Codelist; 6]) -> Hierarchies {
        let children = std::array::from_fn(|axis| {
            let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (code, parent) in &codelists[axis].parent {
                map.entry(parent.clone()).or_default().push(code.clone());
            }
            map
        });
        Hierarchies {
            codelists,
            children,
        }
    }

    /// The children of `code` on axis `axis` (empty for a leaf or an unknown code).
    pub fn children(&self, axis: usize, code: &str) -> &[String] {
        self.children
            .get(axis)
            .and_then(|map| map.get(code))
            .map_or(&[], Vec::as_slice)
    }
}

/// Why a release cannot be protected or audited.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SuppressionError {
    /// A parent's count is not the sum of its children's (or smaller than the sum of the
    /// known ones): the counts are inconsistent, no disclosure control can be computed.
    #[error("the count of {parent:?} is {value}, its children on {axis} add up to {sum}")]
    Inconsistent {
        /// The parent cell.
        parent: CellKey,
        /// Its count.
        value: u64,
        /// The axis of the equation.
        axis: &'static str,
        /// The sum of its children's known counts.
        sum: u64,
    },
    /// The known counts leave no non-negative values for the cells in no release (or
    /// suppressed earlier) around this one.
    #[error("the counts around {0:?} cannot be completed with non-negative values")]
    NoCompletion(CellKey),
    /// A cell published in an earlier release is in the status map as suppressed.
    #[error("{0:?} was published earlier and cannot be suppressed")]
    PublishedEarlier(CellKey),
    /// A status names a cell that is not in the release.
    #[error("{0:?} has a status but is not in the release")]
    UnknownCell(CellKey),
    /// No pattern within the fixed (earlier published) values protects the cell.
    #[error("{0:?} cannot be protected: earlier published values pin it")]
    Unprotectable(CellKey),
    /// The LP solver failed.
    #[error("the LP solver failed: {0}")]
    Solver(String),
}

impl From<microlp::Error> for SuppressionError {
    fn from(e: microlp::Error) -> Self {
        SuppressionError::Solver(e.to_string())
    }
}

/// Where a variable comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A cell of the release being protected.
    Current,
    /// A cell only in an earlier release.
    Earlier,
    /// A child cell in no release.
    Absent,
}

/// The system: variables (cells) and equations (`cells[eq[0]] = Σ cells[eq[1..]]`).
#[derive(Debug, Clone)]
pub(crate) struct Model {
    /// Each variable's key.
    pub keys: Vec<CellKey>,
    /// Key → variable.
    pub index: HashMap<CellKey, usize>,
    /// The true count when known (release cells; earlier cells that were published).
    pub value: Vec<Option<u64>>,
    /// The true count where known, elsewhere a completion consistent with every equation
    /// (absent cells, cells suppressed earlier): a table the attacker cannot rule out.
    pub level: Vec<f64>,
    pub origin: Vec<Origin>,
    /// Published in an earlier release: a fact, whatever this release does.
    pub locked: Vec<bool>,
    /// Suppressed in an earlier release: must stay hidden.
    pub hidden_earlier: Vec<bool>,
    /// Each equation: the parent first, then its children.
    pub equations: Vec<Vec<usize>>,
    /// Each variable's equations.
    pub equations_of: Vec<Vec<usize>>,
}

impl Model {
    /// Builds the system of `cells` (this release's counts) and `earlier` (cells of earlier
    /// releases: the published value, or `None` if suppressed), checking that the counts add
    /// up.
    pub fn build(
        cells: &BTreeMap<CellKey, u64>,
        hierarchies: &Hierarchies,
        earlier: &[(CellKey, Option<u64>)],
    ) -> Result<Model, SuppressionError> {
        let mut model = Model {
            keys: Vec::new(),
            index: HashMap::new(),
            value: Vec::new(),
            level: Vec::new(),
            origin: Vec::new(),
            locked: Vec::new(),
            hidden_earlier: Vec::new(),
            equations: Vec::new(),
            equations_of: Vec::new(),
        };
        for (key, value) in cells {
            model.add(key, Some(*value), Origin::Current);
        }
        for (key, published) in earlier {
            let var = match model.index.get(key) {
                Some(&var) => var,
                None => model.add(key, *published, Origin::Earlier),
            };
            match published {
                Some(_) => model.locked[var] = true,
                None => model.hidden_earlier[var] = true,
            }
        }
        let published_cells = model.keys.len();
        for var in 0..published_cells {
            for axis in 0..AXES.len() {
                let key = model.keys[var].clone();
                let children = hierarchies.children(axis, key.code(axis));
                if children.is_empty() {
                    continue;
                }
                let mut equation = vec![var];
                for child in children {
                    let child_key = key.with_code(axis, child);
                    let child_var = match model.index.get(&child_key) {
                        Some(&v) => v,
                        None => model.add(&child_key, None, Origin::Absent),
                    };
                    equation.push(child_var);
                }
                model.check(&equation, axis)?;
                let id = model.equations.len();
                for &v in &equation {
                    model.equations_of[v].push(id);
                }
                model.equations.push(equation);
            }
        }
        model.merge_absent();
        model.complete()?;
        Ok(model)
    }

    /// Absent children that are in no other equation are one unknown together: each
    /// equation keeps the first of them (standing for their sum), which keeps the LPs small.
    fn merge_absent(&mut self) {
        for id in 0..self.equations.len() {
            let exclusive =
                |m: &Model, v: usize| m.origin[v] == Origin::Absent && m.equations_of[v].len() == 1;
            let mut kept = false;
            let mut equation = Vec::with_capacity(self.equations[id].len());
            for (i, &v) in self.equations[id].iter().enumerate() {
                if i > 0 && exclusive(self, v) {
                    if kept {
                        self.equations_of[v].clear();
                        continue;
                    }
                    kept = true;
                }
                equation.push(v);
            }
            self.equations[id] = equation;
        }
    }

    /// Fills `level` of the cells whose count is unknown (absent, suppressed earlier) with
    /// non-negative values satisfying every equation: directly where one unknown is alone
    /// in its only equation, by a feasibility LP per group of unknowns sharing equations.
    fn complete(&mut self) -> Result<(), SuppressionError> {
        self.level = self
            .value
            .iter()
            .map(|v| v.map_or(0.0, |x| x as f64))
            .collect();
        let unknown: Vec<bool> = self.value.iter().map(Option::is_none).collect();
        for group in self.components(&unknown) {
            let equations = self.equations_around(&group);
            if equations.is_empty() {
                continue;
            }
            let mut problem = Problem::new(OptimizationDirection::Minimize);
            let vars: HashMap<usize, Variable> = group
                .iter()
                .map(|&v| (v, problem.add_var(0.0, (0.0, f64::INFINITY))))
                .collect();
            if let ([v], [id]) = (group.as_slice(), equations.as_slice()) {
                let (terms, rhs) = self.terms(&unknown, &vars, *id);
                let level = rhs / terms.first().map_or(1.0, |t| t.1);
                if level < -1e-9 {
                    return Err(SuppressionError::NoCompletion(self.keys[*v].clone()));
                }
                self.level[*v] = level.max(0.0);
                continue;
            }
            for &id in &equations {
                let (terms, rhs) = self.terms(&unknown, &vars, id);
                problem.add_constraint(terms, ComparisonOp::Eq, rhs);
            }
            let failed = || SuppressionError::NoCompletion(self.keys[group[0]].clone());
            let solution = match problem.solve() {
                Ok(outcome) => outcome.into_solution().map_err(|_| failed())?,
                Err(microlp::Error::Infeasible) => return Err(failed()),
                Err(e) => return Err(e.into()),
            };
            for (&v, &var) in &vars {
                self.level[v] = solution.var_value(var).max(0.0);
            }
        }
        Ok(())
    }

    /// The equations with a variable of `group`, once each, in order.
    pub fn equations_around(&self, group: &[usize]) -> Vec<usize> {
        let mut equations: Vec<usize> = group
            .iter()
            .flat_map(|&v| self.equations_of[v].iter().copied())
            .collect();
        equations.sort_unstable();
        equations.dedup();
        equations
    }

    /// Equation `id` as `Σ coefficient · variable = rhs` over the `free` cells (each in
    /// `vars`), the others at their `level` on the right-hand side.
    pub fn terms(
        &self,
        free: &[bool],
        vars: &HashMap<usize, Variable>,
        id: usize,
    ) -> (Vec<(Variable, f64)>, f64) {
        let mut terms = Vec::new();
        let mut rhs = 0.0;
        for (i, &v) in self.equations[id].iter().enumerate() {
            let coefficient = if i == 0 { 1.0 } else { -1.0 };
            match vars.get(&v) {
                Some(&var) if free[v] => terms.push((var, coefficient)),
                _ => rhs -= coefficient * self.level[v],
            }
        }
        (terms, rhs)
    }

    fn add(&mut self, key: &CellKey, value: Option<u64>, origin: Origin) -> usize {
        let var = self.keys.len();
        self.keys.push(key.clone());
        self.index.insert(key.clone(), var);
        self.value.push(value);
        self.origin.push(origin);
        self.locked.push(false);
        self.hidden_earlier.push(false);
        self.equations_of.push(Vec::new());
        var
    }

    /// The parent equals the sum of its children when all are known, is at least the sum
    /// of the known ones otherwise.
    fn check(&self, equation: &[usize], axis: usize) -> Result<(), SuppressionError> {
        let Some(parent) = self.value[equation[0]] else {
            return Ok(());
        };
        let known: Vec<Option<u64>> = equation[1..].iter().map(|&v| self.value[v]).collect();
        let sum: u64 = known.iter().flatten().sum();
        let all_known = known.iter().all(Option::is_some);
        if sum > parent || (all_known && sum != parent) {
            return Err(SuppressionError::Inconsistent {
                parent: self.keys[equation[0]].clone(),
                value: parent,
                axis: AXES[axis],
                sum,
            });
        }
        Ok(())
    }

    /// The hidden variables given this release's statuses: absent cells, cells suppressed
    /// earlier, and release cells whose status is `A` or `C`.
    pub fn hidden(
        &self,
        status: &BTreeMap<CellKey, ConfStatus>,
    ) -> Result<Vec<bool>, SuppressionError> {
        let mut hidden: Vec<bool> = (0..self.keys.len())
            .map(|v| self.origin[v] == Origin::Absent || self.hidden_earlier[v])
            .collect();
        for (key, conf) in status {
            let &var = self
                .index
                .get(key)
                .ok_or_else(|| SuppressionError::UnknownCell(key.clone()))?;
            if *conf != ConfStatus::F {
                if self.locked[var] {
                    return Err(SuppressionError::PublishedEarlier(key.clone()));
                }
                hidden[var] = true;
            }
        }
        Ok(hidden)
    }

    /// The hidden variables in groups that share no equation: each group's values are
    /// determined by the published values and the group's own equations only, so each is
    /// audited (or protected) on its own.
    pub fn components(&self, hidden: &[bool]) -> Vec<Vec<usize>> {
        let mut root: Vec<usize> = (0..self.keys.len()).collect();
        fn find(root: &mut [usize], mut v: usize) -> usize {
            while root[v] != v {
                root[v] = root[root[v]];
                v = root[v];
            }
            v
        }
        for equation in &self.equations {
            let mut first = None;
            for &v in equation.iter().filter(|&&v| hidden[v]) {
                match first {
                    None => first = Some(v),
                    Some(f) => {
                        let (a, b) = (find(&mut root, f), find(&mut root, v));
                        root[a] = b;
                    }
                }
            }
        }
        let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for v in (0..self.keys.len()).filter(|&v| hidden[v]) {
            let r = find(&mut root, v);
            groups.entry(r).or_default().push(v);
        }
        groups.into_values().collect()
    }
}
