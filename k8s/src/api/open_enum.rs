//! String-backed enums that keep values they do not know.
//!
//! KServe's CRD restricts fields such as `scaleMetric` to a closed set, but real YAML in the wild
//! (its own website's `scaleMetric: qps`) uses other values. A plain serde enum would make the whole
//! file fail to load with a type error; these enums load it, keep the value verbatim, and let
//! [`InferenceService::validate`](crate::InferenceService::validate) name the field instead.

/// Declares `enum $name { Known..., Unknown(String) }` with serde as a plain string, `as_str`,
/// `is_known`, `KNOWN` (the spellings KServe defines) and `Display`.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
        )]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value KServe does not define, kept verbatim so that validation can report it.
            Unknown(String),
        }

        impl $name {
            /// The values KServe defines, in its spelling.
            pub const KNOWN: &'static [&'static str] = &[$($text),+];

            /// The value as written in YAML.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $text, )+
                    Self::Unknown(other) => other,
                }
            }

            /// Whether KServe defines this value.
            pub fn is_known(&self) -> bool {
                !matches!(self, Self::Unknown(_))
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                match value.as_str() {
                    $( $text => Self::$variant, )+
                    _ => Self::Unknown(value),
                }
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self::from(value.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                match value {
                    $name::Unknown(other) => other,
                    known => known.as_str().to_owned(),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use open_enum;
