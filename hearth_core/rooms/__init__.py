"""Conference rooms: a state machine (scheduled → active → ended) with seats and a change stream."""
