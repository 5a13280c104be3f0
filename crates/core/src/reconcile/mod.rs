//! The reconciler core, pure (no I/O, no clock): three-way merge per field ([`merge`]), identity
//! decisions for unlinked records ([`identity`]), the planner ([`plan`]) and the dry-run
//! rendering of a plan ([`render`]).

pub mod identity;
pub mod merge;
pub mod plan;
pub mod render;

pub use identity::{Confidence, Match, Probe, ProbeKind, decide_match, identity_probes};
pub use merge::{ConflictWhy, FieldOutcome, KeepReason, MergeCtx, WriteReason, merge_field};
pub use plan::{
    CapBreach, CreatePlan, DriftFlag, FieldConflict, FieldWrite, KeptField, LinkPlan, Plan, PlanCounts,
    SideView, plan_create, plan_link,
};
pub use render::render;
