"""staged stage."""
