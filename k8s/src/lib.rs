//! KServe InferenceService API types.
