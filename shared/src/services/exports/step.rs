//! What one delivery step of an export job came to, whatever the receiver: nothing to send,
//! or the receiver's answer (the education receiver's too, in the e-health port's terms).

use crate::ports::exchange::ReceiverAnswer;

/// What one step of a job came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Nothing to send, and why.
    Skip(String),
    /// What the receiver answered.
    Answer(ReceiverAnswer),
}
