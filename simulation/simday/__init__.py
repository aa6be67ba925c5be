"""Hall-day simulator: a seeded plan of a day replayed against the real controller, and its report."""
