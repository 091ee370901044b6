"""The pure core: lifecycle, packets, board, config, planning, scoring. Touches no disk."""
