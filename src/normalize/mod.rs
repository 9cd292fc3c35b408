//! Zone text → normalized text with an offset map back to the original.
