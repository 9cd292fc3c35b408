//! Findings: what matched, where, and under which rule.
