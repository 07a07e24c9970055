"""GenBridge."""
