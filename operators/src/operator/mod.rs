//! Timely operators (next).
