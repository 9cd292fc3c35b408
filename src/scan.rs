//! One document through every stage.
