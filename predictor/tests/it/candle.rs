//! candle runtime tests (MiniLM embeddings against the float64 reference).
