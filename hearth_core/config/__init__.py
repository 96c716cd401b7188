"""The versioned configuration store."""
