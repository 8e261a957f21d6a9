"""email tasks (seed 003); filled in by their own issue."""
