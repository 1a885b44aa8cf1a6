//! The shipped instrument definitions, embedded in the binary so every deployment scores
//! with exactly the files it was built from.

/// `(file name, JSON)` of every shipped definition.
pub(crate) const BUILTIN: &[(&str, &str)] = &[
    (
        "sdq-parent-4-17.json",
        include_str!("../../instruments/sdq-parent-4-17.json"),
    ),
    (
        "sdq-teacher-4-17.json",
        include_str!("../../instruments/sdq-teacher-4-17.json"),
    ),
    (
        "sdq-parent-2-4.json",
        include_str!("../../instruments/sdq-parent-2-4.json"),
    ),
    (
        "mchat-r.json",
        include_str!("../../instruments/mchat-r.json"),
    ),
    (
        "mchat-rf.json",
        include_str!("../../instruments/mchat-rf.json"),
    ),
    ("epds.json", include_str!("../../instruments/epds.json")),
    (
        "demo-asq-style.json",
        include_str!("../../instruments/demo-asq-style.json"),
    ),
];
