"""The region of a league (CONTRACT §7): hall bridges, ingest into PostgreSQL, rollups and the league console."""
