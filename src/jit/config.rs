//! `TraceJitConfig`: the thresholds and limits that steer the native tiers.

/// Thresholds and limits for the block and tracing tiers (SPEC §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceJitConfig {
    /// Back-edges through a loop header before the trace recorder arms.
    pub trace_threshold: u32,
    /// Whole-chunk invocations served by the interpreter before the block
    /// tier compiles (0 compiles on the first call).
    pub block_threshold: u32,
    /// Side exits a trace may take before it is blacklisted.
    pub max_side_exits: u32,
    /// Self-recursive activations the recorder inlines.
    pub max_inline_recursion: usize,
    /// Side traces chained per back-edge hop.
    pub max_trace_chain: usize,
    /// Recorded ops before a recording aborts.
    pub max_trace_len: usize,
}

impl TraceJitConfig {
    /// The defaults: 50, 1, 50, 4, 4, 256.
    pub const fn defaults() -> TraceJitConfig {
        TraceJitConfig {
            trace_threshold: 50,
            block_threshold: 1,
            max_side_exits: 50,
            max_inline_recursion: 4,
            max_trace_chain: 4,
            max_trace_len: 256,
        }
    }
}

impl Default for TraceJitConfig {
    fn default() -> Self {
        Self::defaults()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_equals_const_defaults() {
        const D: TraceJitConfig = TraceJitConfig::defaults();
        assert_eq!(TraceJitConfig::default(), D);
        assert_eq!(D.trace_threshold, 50);
        assert_eq!(D.max_trace_len, 256);
    }
}
