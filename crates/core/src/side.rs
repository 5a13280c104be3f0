//! [`Side`]: which end of a pair a record, value or write belongs to. Shared by the mapping
//! layer, the reconciler and the store (where it is stored as the text `left` / `right`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One side of a pair: the `left` or `right` system of its mapping file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The `left` system of the mapping file.
    Left,
    /// The `right` system of the mapping file.
    Right,
}

/// A stored side that is neither `left` nor `right`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown side {0:?} (expected `left` or `right`)")]
pub struct UnknownSide(pub String);

impl Side {
    /// Both sides, left first.
    pub const ALL: &'static [Side] = &[Side::Left, Side::Right];

    /// The opposite side.
    pub fn other(self) -> Self {
        match self {
            Self::Left => Self::Right,
            Self::Right => Self::Left,
        }
    }

    /// The spelling used in mapping files, the database and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Left => "left",
            Self::Right => "right",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Side {
    type Err = UnknownSide;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "left" => Ok(Self::Left),
            "right" => Ok(Self::Right),
            other => Err(UnknownSide(other.to_owned())),
        }
    }
}

impl TryFrom<String> for Side {
    type Error = UnknownSide;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}
