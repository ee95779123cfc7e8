"""Reports of a game day: results.json (the contract), postmortem.md, and the terminal table."""

__all__ = []
