//! Bounds on what one request may ask the codec to allocate.

/// Per-request limits enforced while decoding, before any tensor memory is allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest element count of one tensor (the product of its shape). Default 16 Mi elements.
    pub max_elements: usize,
    /// Largest number of input tensors in one request. Default 64.
    pub max_inputs: usize,
}

// === impl Limits ===

impl Limits {
    /// 16 Mi elements: a 64 MiB FP32 tensor, already above the default 16 MiB body limit.
    pub const DEFAULT_MAX_ELEMENTS: usize = 16 * 1024 * 1024;
    /// Far above any real model's input count.
    pub const DEFAULT_MAX_INPUTS: usize = 64;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_elements: Self::DEFAULT_MAX_ELEMENTS,
            max_inputs: Self::DEFAULT_MAX_INPUTS,
        }
    }
}
