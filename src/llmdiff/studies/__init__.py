"""Studies that train several configurations at one budget and measure them alike (docs/studies.md)."""
