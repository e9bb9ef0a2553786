"""write/feedback."""
