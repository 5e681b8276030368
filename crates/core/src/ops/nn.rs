//! Neural-network helpers: dropout masks, embedding lookup, batched statistics.
