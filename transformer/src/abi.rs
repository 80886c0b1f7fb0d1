//! The guest's packed return word (ABI.md, "One call").

use crate::Protocol;

/// Export names.
pub(crate) const MEMORY: &str = "memory";
pub(crate) const ALLOC: &str = "alloc";
pub(crate) const PREPROCESS: &str = "preprocess";
pub(crate) const POSTPROCESS: &str = "postprocess";

const PTR_MASK: u64 = 0xffff_ffff;
const LEN_MASK: u64 = (1 << 28) - 1;

/// What an entry point's `i64` says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Returned {
    /// JSON at `ptr..ptr+len`, in `protocol` (`None`: the input's protocol).
    Json {
        ptr: u32,
        len: u32,
        protocol: Option<Protocol>,
    },
    /// Pass the input through.
    Unchanged,
    /// The input is refused; a UTF-8 message at `ptr..ptr+len`.
    Rejected { ptr: u32, len: u32 },
    /// A status the ABI does not define.
    Unknown(u8),
}

// === impl Returned ===

impl Returned {
    pub(crate) fn decode(word: i64) -> Self {
        // The guest's i64 is an unsigned word: reinterpret the bits.
        let word = word.cast_unsigned();
        let ptr = u32::try_from(word & PTR_MASK).expect("masked to 32 bits");
        let len = u32::try_from((word >> 32) & LEN_MASK).expect("masked to 28 bits");
        let status = u8::try_from(word >> 60).expect("4 bits");
        match status {
            0 => Self::Json {
                ptr,
                len,
                protocol: None,
            },
            1 => Self::Json {
                ptr,
                len,
                protocol: Some(Protocol::V1),
            },
            2 => Self::Json {
                ptr,
                len,
                protocol: Some(Protocol::V2),
            },
            3 => Self::Unchanged,
            4 => Self::Rejected { ptr, len },
            other => Self::Unknown(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(status: u64, len: u64, ptr: u64) -> i64 {
        ((status << 60) | (len << 32) | ptr).cast_signed()
    }

    #[test]
    fn decodes_every_status() {
        let max_len = (1 << 28) - 1;
        assert_eq!(
            Returned::decode(pack(0, 5, 0xffff_fff0)),
            Returned::Json {
                ptr: 0xffff_fff0,
                len: 5,
                protocol: None
            }
        );
        assert_eq!(
            Returned::decode(pack(1, max_len, 8)),
            Returned::Json {
                ptr: 8,
                len: u32::try_from(max_len).expect("fits"),
                protocol: Some(Protocol::V1)
            }
        );
        assert_eq!(
            Returned::decode(pack(2, 1, 2)),
            Returned::Json {
                ptr: 2,
                len: 1,
                protocol: Some(Protocol::V2)
            }
        );
        assert_eq!(Returned::decode(pack(3, 7, 7)), Returned::Unchanged);
        assert_eq!(
            Returned::decode(pack(4, 3, 9)),
            Returned::Rejected { ptr: 9, len: 3 }
        );
        assert_eq!(Returned::decode(pack(15, 0, 0)), Returned::Unknown(15));
        assert_eq!(Returned::decode(-1), Returned::Unknown(15));
    }
}
