"""Faults: each injects through its target, records its undo first, and holds a TTL lease."""
