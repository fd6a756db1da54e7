"""keyfigures stage."""
